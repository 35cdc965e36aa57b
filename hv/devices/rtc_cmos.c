/* rtc_cmos.c: a minimal MC146818 CMOS clock: the host's UTC time, 128 bytes of RAM, no alarms. */
#include "devices/rtc_cmos.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS   0x04
#define REG_WEEKDAY 0x06
#define REG_DAY     0x07
#define REG_MONTH   0x08
#define REG_YEAR    0x09
#define REG_A       0x0a
#define REG_B       0x0b
#define REG_C       0x0c
#define REG_D       0x0d
#define REG_CENTURY 0x32

struct rtc {
    pthread_mutex_t lock; /* vCPUs share the index register */
    uint8_t index;
    uint8_t ram[RTC_CMOS_REGS];
};

static uint8_t bcd(int v)
{
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

uint8_t rtc_cmos_reg(const uint8_t ram[RTC_CMOS_REGS], unsigned index, const struct tm *tm)
{
    switch (index & (RTC_CMOS_REGS - 1)) {
    case REG_SECONDS:
        return bcd(tm->tm_sec > 59 ? 59 : tm->tm_sec);
    case REG_MINUTES:
        return bcd(tm->tm_min);
    case REG_HOURS:
        return bcd(tm->tm_hour);
    case REG_WEEKDAY:
        return bcd(tm->tm_wday + 1);
    case REG_DAY:
        return bcd(tm->tm_mday);
    case REG_MONTH:
        return bcd(tm->tm_mon + 1);
    case REG_YEAR:
        return bcd(tm->tm_year % 100);
    case REG_CENTURY:
        return bcd((tm->tm_year + 1900) / 100);
    case REG_A:
        return 0x26; /* 32.768 kHz time base, 1024 Hz rate, no update in progress */
    case REG_B:
        return (uint8_t)((ram[REG_B] & 0x70) | 0x02); /* the guest's interrupt enables; 24 h, BCD */
    case REG_C:
        return 0; /* no interrupt pending */
    case REG_D:
        return 0x80; /* valid RAM and time */
    default:
        return ram[index & (RTC_CMOS_REGS - 1)];
    }
}

static int create(struct vm *vm, void **ctx, char *err, size_t errlen)
{
    (void)vm;
    struct rtc *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "rtc: out of memory");
        return -1;
    }
    pthread_mutex_init(&r->lock, NULL);
    *ctx = r;
    return 0;
}

static void destroy(void *ctx)
{
    struct rtc *r = ctx;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    struct rtc *r = ctx;
    (void)v;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    pthread_mutex_lock(&r->lock);
    for (uint32_t i = 0; i < io->count; i++) {
        uint8_t *p = io->data + (size_t)i * io->size;
        if (io->addr == RTC_CMOS_PORT) {
            if (io->write)
                r->index = *p & 0x7f; /* bit 7 masks NMIs on a PC: nothing to mask here */
            else
                *p = r->index;
        } else if (io->write) {
            r->ram[r->index] = *p; /* a written time is not kept: the clock is the host's */
        } else {
            *p = rtc_cmos_reg(r->ram, r->index, &tm);
        }
        if (!io->write && io->size > 1)
            memset(p + 1, 0, io->size - 1); /* byte-wide registers */
    }
    pthread_mutex_unlock(&r->lock);
}

static void reset(void *ctx)
{
    struct rtc *r = ctx;
    pthread_mutex_lock(&r->lock);
    r->index = 0;
    memset(r->ram, 0, sizeof r->ram);
    pthread_mutex_unlock(&r->lock);
}

const struct dev_model rtc_cmos_device = {
    .name = "rtc",
    .ranges = (const struct dev_range[]){{DEV_PIO, RTC_CMOS_PORT, RTC_CMOS_PORT + 1}},
    .nranges = 1,
    .create = create,
    .destroy = destroy,
    .io = io,
    .reset = reset,
};
