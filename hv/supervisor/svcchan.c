/* svcchan.c: SVC_CALL: every address and length the service VM gives is checked against its
 * RAM and the ABI's bounds here, on its vCPU thread; the request itself is parsed and answered
 * by the main loop, so a call never blocks the vCPU nor makes it wait for a lock hv may hold
 * while it waits for that vCPU. */
#include "supervisor/svcchan.h"

#include "vmm/vm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum call_state {
    CALL_NONE,     /* nothing in flight (or the answer was collected) */
    CALL_QUEUED,   /* submitted; the main loop has not taken it yet */
    CALL_RUNNING,  /* the main loop is answering it */
    CALL_ANSWERED, /* its answer waits to be collected */
};

struct svc_channel {
    pthread_mutex_t mu; /* everything below; a leaf (docs/hv-layout.md, "Locks") */
    enum call_state state;
    uint64_t ticket; /* the current (last) call's; they count from 1 */
    uint8_t *buf;    /* QUEUED: the request's copy; ANSWERED: the answer */
    size_t len;
};

struct svc_channel *svcchan_new(void)
{
    struct svc_channel *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

void svcchan_free(struct svc_channel *c)
{
    if (!c)
        return;
    free(c->buf);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int64_t submit(struct hv *hv, struct svc_channel *c, struct vcpu *v,
                      struct vigil_hc_svc_call *a)
{
    if (a->req_len > VIGIL_SVC_REQ_MAX)
        return VIGIL_E2BIG;
    const void *src = vm_gpa(v->vm, a->req_gpa, a->req_len);
    if (!src)
        return VIGIL_EFAULT;
    /* A private copy, made before the lock: the service VM's other vCPUs may rewrite it. */
    uint8_t *copy = malloc(a->req_len);
    if (!copy)
        return VIGIL_EBUSY;
    memcpy(copy, src, a->req_len);
    pthread_mutex_lock(&c->mu);
    if (c->state == CALL_QUEUED || c->state == CALL_RUNNING) {
        pthread_mutex_unlock(&c->mu);
        free(copy);
        return VIGIL_EBUSY;
    }
    free(c->buf); /* an answer nobody collected */
    c->buf = copy;
    c->len = a->req_len;
    c->state = CALL_QUEUED;
    a->ticket = ++c->ticket;
    pthread_mutex_unlock(&c->mu);
    hv_wake_main_loop(hv);
    return VIGIL_EAGAIN;
}

static int64_t collect(struct svc_channel *c, struct vcpu *v, struct vigil_hc_svc_call *a)
{
    pthread_mutex_lock(&c->mu);
    if (a->ticket == 0 || a->ticket != c->ticket || c->state == CALL_NONE) {
        pthread_mutex_unlock(&c->mu);
        return VIGIL_ENOENT;
    }
    if (c->state != CALL_ANSWERED) {
        pthread_mutex_unlock(&c->mu);
        return VIGIL_EAGAIN;
    }
    a->resp_len = c->len;
    void *dst = a->resp_cap >= c->len ? vm_gpa(v->vm, a->resp_gpa, c->len) : NULL;
    if (!dst) {
        pthread_mutex_unlock(&c->mu);
        return a->resp_cap < a->resp_len ? VIGIL_E2BIG : VIGIL_EFAULT;
    }
    /* Taken out under the lock (another vCPU may collect too), copied outside it: an answer
     * can be 16 MiB, and the main loop takes this lock. */
    uint8_t *answer = c->buf;
    c->buf = NULL;
    c->len = 0;
    c->state = CALL_NONE;
    pthread_mutex_unlock(&c->mu);
    memcpy(dst, answer, a->resp_len);
    free(answer);
    return 0;
}

int64_t hc_svc_call(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct vigil_hc_svc_call *a = arg;
    struct hv *hv = v->vm->hv;
    (void)gpa;
    if (!hv->chan)
        return VIGIL_ENOSYS;
    a->resp_len = 0;
    return a->req_len ? submit(hv, hv->chan, v, a) : collect(hv->chan, v, a);
}

bool svcchan_take(struct svc_channel *c, uint8_t **req, size_t *len, uint64_t *ticket)
{
    pthread_mutex_lock(&c->mu);
    bool queued = c->state == CALL_QUEUED;
    if (queued) {
        *req = c->buf;
        *len = c->len;
        *ticket = c->ticket;
        c->buf = NULL;
        c->len = 0;
        c->state = CALL_RUNNING;
    }
    pthread_mutex_unlock(&c->mu);
    return queued;
}

void svcchan_answer(struct hv *hv, uint64_t ticket, uint8_t *resp, size_t len)
{
    struct svc_channel *c = hv->chan;
    pthread_mutex_lock(&c->mu);
    bool current = c->state == CALL_RUNNING && c->ticket == ticket;
    if (current) {
        c->buf = resp;
        c->len = len;
        c->state = CALL_ANSWERED;
    }
    pthread_mutex_unlock(&c->mu);
    if (!current) {
        free(resp);
        return;
    }
    struct vm *svc = atomic_load(&hv->service);
    if (svc)
        vm_raise_event(svc, VIGIL_EV_REPLY);
}
