/* cpio_embed.S: puts a cpio archive (SVCOS_CPIO_FILE, a quoted path) into the image as svcos_cpio_start..svcos_cpio_end. */
    .section .rodata.svcos_cpio, "a"
    .balign 16
    .globl svcos_cpio_start
svcos_cpio_start:
    .incbin SVCOS_CPIO_FILE
    .globl svcos_cpio_end
svcos_cpio_end:
    .section .note.GNU-stack, "", @progbits
