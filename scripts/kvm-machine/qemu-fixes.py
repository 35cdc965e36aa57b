#!/usr/bin/env python3
"""qemu-fixes.py: our two fixes to QEMU 7.2's emulated AMD SVM (TCG), applied to Debian's source.

The nested machine's KVM debugs its guests through SVM intercepts that QEMU's TCG models wrongly:
  1. INT3 (and INTO) raise #BP (#OF), whose *exception* intercept applies on AMD (APM vol. 2,
     15.12); QEMU checks only the INTn (SWINT) intercept, so KVM never sees a software breakpoint
     and the guest's own #BP handler gets it.
  2. VMRUN and #VMEXIT load DR7 from the VMCB by plain assignment, so QEMU never re-arms the
     debug-register breakpoints it implements behind DR7; a hardware breakpoint never fires.
Each edit names the exact text it replaces and fails loudly when the source differs.
Usage: qemu-fixes.py QEMU_SOURCE_DIR"""
import sys
from pathlib import Path

EDITS = [
    ("target/i386/tcg/excp_helper.c",
     "    } else {\n"
     "        cpu_svm_check_intercept_param(env, SVM_EXIT_SWINT, 0, retaddr);\n",
     "    } else if ((intno == EXCP03_INT3 || intno == EXCP04_INTO) && next_eip_addend == 1) {\n"
     "        /* vigil: the one-byte INT3/INTO raise exceptions: their intercepts apply */\n"
     "        cpu_svm_check_intercept_param(env, SVM_EXIT_EXCP_BASE + intno, 0, retaddr);\n"
     "    } else {\n"
     "        cpu_svm_check_intercept_param(env, SVM_EXIT_SWINT, 0, retaddr);\n"),
    ("target/i386/tcg/sysemu/svm_helper.c",
     "    env->dr[7] = x86_ldq_phys(cs,\n"
     "                          env->vm_vmcb + offsetof(struct vmcb, save.dr7));\n",
     "    uint64_t vigil_dr7 = x86_ldq_phys(cs,\n"
     "                          env->vm_vmcb + offsetof(struct vmcb, save.dr7));\n"),
    ("target/i386/tcg/sysemu/svm_helper.c",
     "    if (env->dr[7] & DR_RESERVED_MASK) {\n"
     "        cpu_vmexit(env, SVM_EXIT_ERR, 0, GETPC());\n"
     "    }\n",
     "    if (vigil_dr7 & DR_RESERVED_MASK) {\n"
     "        cpu_vmexit(env, SVM_EXIT_ERR, 0, GETPC());\n"
     "    }\n"
     "#endif\n"
     "    cpu_x86_update_dr7(env, vigil_dr7); /* vigil: re-arms DR0-3 for the guest's DR7 */\n"
     "#ifdef TARGET_X86_64\n"),
    ("target/i386/tcg/sysemu/svm_helper.c",
     "    env->dr[7] = x86_ldq_phys(cs,\n"
     "                          env->vm_hsave + offsetof(struct vmcb, save.dr7));\n",
     "    cpu_x86_update_dr7(env, x86_ldq_phys(cs, /* vigil: and the host's on #VMEXIT */\n"
     "                          env->vm_hsave + offsetof(struct vmcb, save.dr7)));\n"),
]


def main():
    src = Path(sys.argv[1])
    for rel, old, new in EDITS:
        path = src / rel
        text = path.read_text()
        if text.count(old) != 1:
            sys.exit(f"qemu-fixes: {rel}: the text to replace is not there exactly once "
                     "(a QEMU other than 7.2?)")
        path.write_text(text.replace(old, new))


if __name__ == "__main__":
    main()
