/* platform_fake_script.c: the steps a test queues for a fake vCPU, and waits for it. */
#include "platform_fake_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void queue(struct fake_platform *f, const struct vcpu *v, struct step *s)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    if (!cpu) {
        pthread_mutex_unlock(&f->lock);
        fprintf(stderr, "platform_fake: a step for vCPU %u of %s, which does not exist\n", v->index,
                v->vm->name);
        abort();
    }
    if (cpu->tail)
        cpu->tail->next = s;
    else
        cpu->head = s;
    cpu->tail = s;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static struct step *new_step(enum step_kind kind)
{
    struct step *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->kind = kind;
    return s;
}

void fake_exit(struct fake_platform *f, const struct vcpu *v, uint32_t reason)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = reason;
    queue(f, v, s);
}

void fake_exit_io(struct fake_platform *f, const struct vcpu *v, uint16_t port, uint8_t direction,
                  uint8_t size, uint32_t value)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = KVM_EXIT_IO;
    s->exit.io.direction = direction;
    s->exit.io.size = size;
    s->exit.io.port = port;
    s->exit.io.count = 1;
    memcpy(s->io, &value, sizeof value);
    queue(f, v, s);
}

void fake_exit_mmio(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, bool is_write,
                    uint32_t len, uint64_t value)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = KVM_EXIT_MMIO;
    s->exit.mmio.phys_addr = gpa;
    s->exit.mmio.len = len;
    s->exit.mmio.is_write = is_write;
    memcpy(s->exit.mmio.data, &value, sizeof value);
    queue(f, v, s);
}

void fake_hypercall(struct fake_platform *f, const struct vcpu *v, unsigned nr, uint32_t gpa,
                    const void *arg, size_t len)
{
    struct step *s = new_step(STEP_EXIT);
    if (len > sizeof s->bytes)
        abort();
    s->exit.exit_reason = KVM_EXIT_IO;
    s->exit.io.direction = KVM_EXIT_IO_OUT;
    s->exit.io.size = 4;
    s->exit.io.port = (uint16_t)(VIGIL_HC_PORT_BASE + nr);
    s->exit.io.count = 1;
    memcpy(s->io, &gpa, sizeof gpa);
    s->gpa = gpa;
    memcpy(s->bytes, arg, len);
    s->nbytes = len;
    queue(f, v, s);
}

void fake_guest_regs(struct fake_platform *f, const struct vcpu *v, const struct kvm_regs *r)
{
    struct step *s = new_step(STEP_REGS);
    s->regs = *r;
    queue(f, v, s);
}

void fake_guest_reset(struct fake_platform *f, const struct vcpu *v)
{
    queue(f, v, new_step(STEP_RESET));
}

void fake_guest_store(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, uint64_t value,
                      uint32_t len)
{
    struct step *s = new_step(STEP_STORE);
    if (len > sizeof value)
        abort();
    s->gpa = gpa;
    s->value = value;
    s->exit.exit_reason = KVM_EXIT_MMIO;
    s->exit.mmio.phys_addr = gpa;
    s->exit.mmio.len = len;
    s->exit.mmio.is_write = 1;
    memcpy(s->exit.mmio.data, &value, sizeof value);
    queue(f, v, s);
}

void fake_guest_msr(struct fake_platform *f, const struct vcpu *v, uint32_t msr, bool write,
                    uint64_t value)
{
    struct step *s = new_step(STEP_MSR);
    s->msr = msr;
    s->write = write;
    s->value = value;
    s->exit.exit_reason = write ? KVM_EXIT_X86_WRMSR : KVM_EXIT_X86_RDMSR;
    s->exit.msr.index = msr;
    s->exit.msr.data = write ? value : 0;
    s->exit.msr.reason = KVM_MSR_EXIT_REASON_FILTER;
    queue(f, v, s);
}

void fake_run_error(struct fake_platform *f, const struct vcpu *v, int err)
{
    struct step *s = new_step(STEP_ERROR);
    s->err = err;
    queue(f, v, s);
}

bool fake_wait_idle(struct fake_platform *f, const struct vcpu *v, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    bool idle = false;
    for (;;) {
        struct fvcpu *cpu = fk_vcpu_of(f, v);
        idle = cpu && cpu->idle && !cpu->head;
        if (idle || pthread_cond_timedwait(&f->cond, &f->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (!idle) {
        struct fvcpu *cpu = fk_vcpu_of(f, v);
        idle = cpu && cpu->idle && !cpu->head;
    }
    pthread_mutex_unlock(&f->lock);
    return idle;
}

bool fake_in_run(struct fake_platform *f, const struct vcpu *v)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    bool in = cpu && cpu->in_run;
    pthread_mutex_unlock(&f->lock);
    return in;
}

void fake_fail_at(struct fake_platform *f, enum fake_op op, const struct vm *vm, unsigned nth,
                  int err)
{
    pthread_mutex_lock(&f->lock);
    f->fail[op].err = err;
    f->fail[op].vm = vm;
    f->fail[op].countdown = nth ? nth : 1;
    pthread_mutex_unlock(&f->lock);
}

void fake_fail(struct fake_platform *f, enum fake_op op, int err)
{
    fake_fail_at(f, op, NULL, 1, err);
}
