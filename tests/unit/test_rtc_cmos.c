/* test_rtc_cmos.c: the CMOS clock's registers read as Linux's rtc-cmos driver expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/rtc_cmos.h"

static void test_time_in_bcd_and_status(void **state)
{
    (void)state;
    uint8_t ram[RTC_CMOS_REGS] = {0};
    struct tm tm = {.tm_sec = 59,
                    .tm_min = 7,
                    .tm_hour = 23,
                    .tm_mday = 30,
                    .tm_mon = 10,
                    .tm_year = 126,
                    .tm_wday = 1};
    assert_int_equal(rtc_cmos_reg(ram, 0x00, &tm), 0x59);
    assert_int_equal(rtc_cmos_reg(ram, 0x02, &tm), 0x07);
    assert_int_equal(rtc_cmos_reg(ram, 0x04, &tm), 0x23);
    assert_int_equal(rtc_cmos_reg(ram, 0x06, &tm), 0x02);
    assert_int_equal(rtc_cmos_reg(ram, 0x07, &tm), 0x30);
    assert_int_equal(rtc_cmos_reg(ram, 0x08, &tm), 0x11);
    assert_int_equal(rtc_cmos_reg(ram, 0x09, &tm), 0x26);
    assert_int_equal(rtc_cmos_reg(ram, 0x32, &tm), 0x20);
    assert_int_equal(rtc_cmos_reg(ram, 0x0a, &tm) & 0x80, 0);    /* no update in progress */
    assert_int_equal(rtc_cmos_reg(ram, 0x0b, &tm) & 0x06, 0x02); /* 24 h, BCD */
    assert_int_equal(rtc_cmos_reg(ram, 0x0c, &tm), 0);
    assert_int_equal(rtc_cmos_reg(ram, 0x0d, &tm), 0x80);
    ram[0x20] = 0xab;
    assert_int_equal(rtc_cmos_reg(ram, 0x20, &tm), 0xab);
    assert_int_equal(rtc_cmos_reg(ram, 0xa0, &tm), 0xab); /* the index wraps at 128 */
    tm.tm_sec = 60; /* a leap second still reads as a valid BCD second */
    assert_int_equal(rtc_cmos_reg(ram, 0x00, &tm), 0x59);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_time_in_bcd_and_status)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
