"""test_loader.py: hv refuses malformed guest images with a message that names the problem."""
import struct
import subprocess

import pytest

from vigil import HV, guest, scaled

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")


def load_demo():
    return bytearray(open(guest("demo.elf"), "rb").read())


def phdrs(img):
    e = EHDR.unpack_from(img, 0)
    phoff, phnum = e[5], e[10]
    return [(phoff + i * PHDR.size, list(PHDR.unpack_from(img, phoff + i * PHDR.size))) for i in range(phnum)]


def put_phdr(img, off, ph):
    PHDR.pack_into(img, off, *ph)


def loads(img):
    return [(off, ph) for off, ph in phdrs(img) if ph[0] == 1]


def truncated(img):
    return img[: loads(img)[0][1][2] + 16]


def wx(img):
    off, ph = loads(img)[0]
    ph[1] = 7  # R W X
    put_phdr(img, off, ph)
    return img


def wrong_arch(img):
    struct.pack_into("<H", img, 18, 183)  # EM_AARCH64
    return img


def huge_memsz(img):
    off, ph = loads(img)[-1]
    ph[6] = 0xFFFFFFFFFFFF0000  # p_memsz: p_vaddr + p_memsz overflows
    put_phdr(img, off, ph)
    return img


def overlapping(img):
    (off0, ph0), (off1, ph1) = loads(img)[:2]
    ph1[3] = ph1[4] = ph0[3]  # second segment at the first one's address
    put_phdr(img, off1, ph1)
    return img


def out_of_ram(img):
    off, ph = loads(img)[-1]
    ph[6] = 512 << 20  # a 512 MiB bss in a 256 MiB guest
    put_phdr(img, off, ph)
    return img


def below_1mib(img):
    off, ph = loads(img)[0]
    ph[3] = ph[4] = 0x8000
    put_phdr(img, off, ph)
    return img


def not_elf(img):
    return b"#!/bin/sh\necho not a guest\n"


CASES = [
    (truncated, "truncated"),
    (wx, "writable and executable"),
    (wrong_arch, "wrong architecture"),
    (huge_memsz, "overflows"),
    (overlapping, "overlaps"),
    (out_of_ram, "does not fit in guest RAM"),
    (below_1mib, "below the 1 MiB minimum"),
    (not_elf, "not an ELF file"),
]


@pytest.mark.parametrize("mutate,message", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_image_is_refused_with_a_clear_message(tmp_path, mutate, message):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(bytes(mutate(load_demo())))
    p = subprocess.run([str(HV), "--control", str(tmp_path / "s"), "--state-dir", str(tmp_path / "st"), "--no-service", "--guest", str(bad)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=scaled(20))
    err = p.stderr.decode()
    assert p.returncode != 0
    assert message in err, err
    assert "bad.elf" in err, err  # the message says which image


def test_missing_image_is_named(tmp_path):
    p = subprocess.run([str(HV), "--control", str(tmp_path / "s"), "--state-dir", str(tmp_path / "st"), "--no-service", "--guest", "/nonexistent.elf"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=scaled(20))
    assert p.returncode != 0 and "/nonexistent.elf" in p.stderr.decode()


def test_bad_options_are_refused(tmp_path):
    for args, msg in [(["--guest", guest("demo.elf")], "no service VM"),
                      (["--no-service", "--guest", guest("demo.elf"), "--mem", "3"], "multiple of 2 MiB"),
                      (["--no-service", "--guest", guest("demo.elf"), "--vcpus", "99"], "--vcpus")]:
        p = subprocess.run([str(HV), "--control", str(tmp_path / "s")] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=scaled(20))
        assert p.returncode != 0 and msg in p.stderr.decode(), (args, p.stderr)
