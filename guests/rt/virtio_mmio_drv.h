/* virtio_mmio_drv.h: the driver's side of a virtio-mmio (version 2) device with split rings, shared
 * by svcos's network driver (netstack/virtio_net.c) and the test guests (tests/guests/vnet_drv.h):
 * registers, finding the card, feature negotiation, queue layout, posting and collecting buffers.
 * Header-only freestanding C: no allocation, no libc; the caller owns the rings' memory, which is
 * identity mapped (a pointer is its guest-physical address). */
#ifndef VIGIL_VIRTIO_MMIO_DRV_H
#define VIGIL_VIRTIO_MMIO_DRV_H

#include <stddef.h>
#include <stdint.h>
#include <vigil/hypercall.h>

/* virtio-mmio v2 registers (offsets into the window). */
enum {
    VM_MAGIC = 0x000,
    VM_VERSION = 0x004,
    VM_DEVICE_ID = 0x008,
    VM_DEV_FEAT = 0x010,
    VM_DEV_FEAT_SEL = 0x014,
    VM_DRV_FEAT = 0x020,
    VM_DRV_FEAT_SEL = 0x024,
    VM_QUEUE_SEL = 0x030,
    VM_QUEUE_NUM_MAX = 0x034,
    VM_QUEUE_NUM = 0x038,
    VM_QUEUE_READY = 0x044,
    VM_QUEUE_NOTIFY = 0x050,
    VM_INT_STATUS = 0x060,
    VM_INT_ACK = 0x064,
    VM_STATUS = 0x070,
    VM_DESC_LO = 0x080,
    VM_DESC_HI = 0x084,
    VM_DRIVER_LO = 0x090,
    VM_DRIVER_HI = 0x094,
    VM_DEVICE_LO = 0x0a0,
    VM_DEVICE_HI = 0x0a4,
    VM_CONFIG = 0x100,
};
#define VM_MAGIC_VALUE 0x74726976u /* "virt" */

/* Device status bits and the virtio 1.x bits the drivers use. */
#define VS_ACKNOWLEDGE             1u
#define VS_DRIVER                  2u
#define VS_DRIVER_OK               4u
#define VS_FEATURES_OK             8u
#define VS_NEEDS_RESET             0x40u
#define VNET_F_MTU                 (1u << 3)  /* feature word 0 */
#define VNET_F_MAC                 (1u << 5)  /* feature word 0 */
#define VNET_F_STATUS              (1u << 16) /* feature word 0 */
#define VIRTIO_F_VERSION_1_HI      (1u << 0)  /* feature word 1 (bit 32) */
#define VRING_DESC_F_NEXT          1u
#define VRING_DESC_F_WRITE         2u
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_F_NO_NOTIFY     1u
#define VNET_HDR_LEN               12 /* struct virtio_net_hdr with VERSION_1; all zero: no offloads */

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct vring_avail {
    uint16_t flags, idx, ring[]; /* then used_event */
};
struct vring_used_elem {
    uint32_t id, len;
};
struct vring_used {
    uint16_t flags, idx;
    struct vring_used_elem ring[]; /* then avail_event */
};

/* One split ring as its driver sees it. */
struct vring {
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t size, avail_idx, last_used; /* our copies of the indices */
};

static inline uint32_t vmmio_rd(volatile uint32_t *regs, unsigned off)
{
    return regs[off / 4];
}

static inline void vmmio_wr(volatile uint32_t *regs, unsigned off, uint32_t val)
{
    regs[off / 4] = val;
}

static inline uint8_t vmmio_cfg8(volatile uint32_t *regs, unsigned off)
{
    return ((volatile uint8_t *)regs)[VM_CONFIG + off];
}

/* The first virtio-mmio device with `device_id` in hv's boot info, or NULL. */
static inline const struct vigil_boot_device *vmmio_find(const struct vigil_boot_info *bi,
                                                         uint32_t device_id)
{
    if (!bi || !VIGIL_BOOT_HAS_DEVICES(bi))
        return NULL;
    for (uint32_t i = 0; i < bi->device_count && i < VIGIL_BOOT_DEV_MAX; i++)
        if (bi->devices[i].type == VIGIL_DEV_VIRTIO_MMIO && bi->devices[i].id == device_id)
            return &bi->devices[i];
    return NULL;
}

/* True if the window holds a virtio-mmio v2 device with `device_id`. */
static inline int vmmio_is(volatile uint32_t *regs, uint32_t device_id)
{
    return vmmio_rd(regs, VM_MAGIC) == VM_MAGIC_VALUE && vmmio_rd(regs, VM_VERSION) == 2 &&
           vmmio_rd(regs, VM_DEVICE_ID) == device_id;
}

/* virtio 1.x 3.1.1 up to FEATURES_OK: reset, ACKNOWLEDGE, DRIVER, VERSION_1 and those of the
 * device's word-0 features that are in `want`.  Returns the accepted word 0, or -1 when the device
 * lacks VERSION_1 or refuses the set. */
static inline int64_t vmmio_negotiate(volatile uint32_t *regs, uint32_t want)
{
    vmmio_wr(regs, VM_STATUS, 0);
    vmmio_wr(regs, VM_STATUS, VS_ACKNOWLEDGE);
    vmmio_wr(regs, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER);
    vmmio_wr(regs, VM_DEV_FEAT_SEL, 1);
    uint32_t hi = vmmio_rd(regs, VM_DEV_FEAT);
    vmmio_wr(regs, VM_DEV_FEAT_SEL, 0);
    uint32_t lo = vmmio_rd(regs, VM_DEV_FEAT) & want;
    if (!(hi & VIRTIO_F_VERSION_1_HI))
        return -1;
    vmmio_wr(regs, VM_DRV_FEAT_SEL, 1);
    vmmio_wr(regs, VM_DRV_FEAT, VIRTIO_F_VERSION_1_HI);
    vmmio_wr(regs, VM_DRV_FEAT_SEL, 0);
    vmmio_wr(regs, VM_DRV_FEAT, lo);
    vmmio_wr(regs, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK);
    return vmmio_rd(regs, VM_STATUS) & VS_FEATURES_OK ? (int64_t)lo : -1;
}

/* Lays queue `sel` out as `desc_gpa` (normally r->desc), r->avail and r->used, r->size entries,
 * and makes it ready.  0, or -1 when the device's maximum is smaller or it keeps the queue not
 * ready (it refused the layout). */
static inline int vmmio_queue_setup(volatile uint32_t *regs, unsigned sel, const struct vring *r,
                                    uint64_t desc_gpa)
{
    vmmio_wr(regs, VM_QUEUE_SEL, sel);
    if (vmmio_rd(regs, VM_QUEUE_NUM_MAX) < r->size)
        return -1;
    uint64_t a = (uintptr_t)r->avail, u = (uintptr_t)r->used;
    vmmio_wr(regs, VM_QUEUE_NUM, r->size);
    vmmio_wr(regs, VM_DESC_LO, (uint32_t)desc_gpa);
    vmmio_wr(regs, VM_DESC_HI, (uint32_t)(desc_gpa >> 32));
    vmmio_wr(regs, VM_DRIVER_LO, (uint32_t)a);
    vmmio_wr(regs, VM_DRIVER_HI, (uint32_t)(a >> 32));
    vmmio_wr(regs, VM_DEVICE_LO, (uint32_t)u);
    vmmio_wr(regs, VM_DEVICE_HI, (uint32_t)(u >> 32));
    vmmio_wr(regs, VM_QUEUE_READY, 1);
    return vmmio_rd(regs, VM_QUEUE_READY) == 1 ? 0 : -1;
}

/* Sets DRIVER_OK on top of FEATURES_OK; 0, or -1 if the device did not take it. */
static inline int vmmio_driver_ok(volatile uint32_t *regs)
{
    vmmio_wr(regs, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
    return vmmio_rd(regs, VM_STATUS) & VS_DRIVER_OK ? 0 : -1;
}

/* Adds descriptor chain `id` to the avail ring, not yet visible to the device. */
static inline void vring_post(struct vring *r, uint16_t id)
{
    r->avail->ring[r->avail_idx % r->size] = id;
    r->avail_idx++;
}

/* Makes the posted entries visible: the device reads the index with acquire, then the entries. */
static inline void vring_publish(struct vring *r)
{
    __atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

/* Notifies queue `q` unless the device said it is draining it; the fence orders our index store
 * before reading its flag (virtio 1.x 2.7.13).  The write is a KVM ioeventfd on hv: no exit. */
static inline void vring_kick(volatile uint32_t *regs, struct vring *r, unsigned q)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(__atomic_load_n(&r->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY))
        vmmio_wr(regs, VM_QUEUE_NOTIFY, q);
}

/* The next chain the device used: 1 with its head and length, or 0 when none is new. */
static inline int vring_next_used(struct vring *r, uint32_t *id, uint32_t *len)
{
    if (r->last_used == __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE))
        return 0;
    const struct vring_used_elem *e = &r->used->ring[r->last_used % r->size];
    *id = e->id;
    *len = e->len;
    r->last_used++;
    return 1;
}

#endif
