/* rtc_cmos.h: the PC's CMOS real-time clock at ports 0x70-0x71, reading the host's UTC time. */
#ifndef HV_RTC_CMOS_H
#define HV_RTC_CMOS_H

#include "vmm/devices.h"

#include <stdint.h>
#include <time.h>

#define RTC_CMOS_PORT 0x70u /* index (bit 7: NMI disable); 0x71 is the data port */
#define RTC_CMOS_REGS 128u

/* What register `index` of a CMOS whose RAM is `ram` reads at time `tm` (UTC): the time and
 * date registers in BCD, 24-hour mode (register B 0x02), no update in progress (A 0x26), no
 * interrupt flags (C 0), valid (D 0x80); other registers are RAM. */
uint8_t rtc_cmos_reg(const uint8_t ram[RTC_CMOS_REGS], unsigned index, const struct tm *tm);

/* Linux's rtc-cmos driver probes it (Debian builds it in); without one its reads of all-ones
 * hang the boot.  No interrupts: register B's interrupt enables are kept but never fire. */
extern const struct dev_model rtc_cmos_device;

#endif
