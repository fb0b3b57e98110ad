"""The board protocol of a build whose weights live in SPRAM (`hdl.spram`): commands.

A bitstream cannot initialise the UP5K's SPRAMs, so the host writes the weights after
programming, then sends images. Every transfer starts with a command byte (115200 baud, 8N1):

    'W' (0x57), the weight image (`SpramLayout.image()`: image_bytes bytes, the SPRAM store
        words in order, little-endian), its CRC-16/CCITT-FALSE (polynomial 0x1021, initial
        value 0xFFFF, no reflection, no final XOR; Python: binascii.crc_hqx(image, 0xFFFF))
        as two bytes, high byte first. The board answers 'K' (0x4B) when the CRC matches,
        'X' (0x58) when it does not. Words are written as they arrive; until a load ends
        with 'K', the board refuses images, so nothing runs on partial or corrupted weights.
    'I' (0x49), the N_in pixel bytes of an image (as for a build with ROM weights). The board
        answers the class byte, or 0xFF when no weights are loaded (the pixels are dropped).
    any other byte: answered with '?' (0x3F), nothing else happens.

The next command follows the answer. The check: the CRC register runs over the image and
the two CRC bytes; it ends at zero exactly when they agree (no final XOR, high byte first).
"""
import binascii

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.spram import write_signature

LOAD, IMAGE, LOADED, BAD_CHECKSUM, NOT_LOADED, UNKNOWN = b"W", b"I", b"K", b"X", 0xFF, b"?"
CRC_POLYNOMIAL, CRC_INITIAL = 0x1021, 0xFFFF


def checksum(image: bytes) -> int:
    """The CRC-16/CCITT-FALSE of a weight image, as the host sends it after the image."""
    return binascii.crc_hqx(image, CRC_INITIAL)


def crc16_update(m, crc, byte):
    """CRC-16/CCITT-FALSE of one more byte, as logic: 8 shift steps, unrolled (each step a
    signal, so the expression stays a chain, not a tree)."""
    value = Signal(16, name="crc_step_0")
    m.d.comb += value.eq(crc ^ (byte.as_unsigned() << 8))
    for step in range(1, 9):
        shifted = Signal(16, name=f"crc_step_{step}")
        m.d.comb += shifted.eq((value << 1)[:16] ^ (Const(CRC_POLYNOMIAL, 16)
                                                    & value[15].replicate(16)))
        value = shifted
    return value


class CommandProtocol(wiring.Component):
    """Between the UART's bytes (`received`, `reply`) and snn_top (`pixels`, `result`,
    `weights_load`): the commands of the module docstring."""

    def __init__(self, layout, n_in: int, result_shape):
        self.layout, self.n_in = layout, n_in
        super().__init__({
            "received": In(stream.Signature(8)), "reply": Out(stream.Signature(8)),
            "pixels": Out(stream.Signature(8)), "result": In(stream.Signature(result_shape)),
            "weights_load": Out(write_signature(layout)),
            "loaded": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        layout = self.layout
        word_bytes, image_bytes = layout.word_width // 8, layout.image_bytes
        count = Signal(range(max(image_bytes + 2, self.n_in) + 1))
        byte_in_word = Signal(range(max(word_bytes, 2)))
        word = self.weights_load.data       # assembled in place: written when complete
        crc = Signal(16)
        answer = Signal(8)
        received = self.received
        take = received.valid & received.ready
        next_crc = crc16_update(m, crc, received.payload)

        # An image's pixel waits in a register of its own before it goes to snn_top: the
        # input store's ready does not reach back into the receiver and this FSM (on the
        # UP5K that chain of compares was the build's slowest path). A byte per UART frame
        # leaves it plenty of time.
        pixel_waiting = Signal()
        m.d.comb += self.pixels.valid.eq(pixel_waiting)
        with m.If(self.pixels.valid & self.pixels.ready):
            m.d.sync += pixel_waiting.eq(0)

        m.d.sync += self.weights_load.en.eq(0)
        with m.If(self.weights_load.en):       # a word is written: the next goes after it
            m.d.sync += self.weights_load.addr.eq(self.weights_load.addr + 1)
        with m.FSM():
            with m.State("COMMAND"):
                m.d.comb += received.ready.eq(1)
                with m.If(received.valid):
                    m.d.sync += count.eq(0)
                    with m.If(received.payload == IMAGE[0]):
                        m.next = "IMAGE"
                    with m.Elif(received.payload == LOAD[0]):
                        m.d.sync += [crc.eq(CRC_INITIAL), byte_in_word.eq(0),
                                     self.weights_load.addr.eq(0), self.loaded.eq(0)]
                        m.next = "LOAD"
                    with m.Else():
                        m.d.sync += answer.eq(UNKNOWN[0])
                        m.next = "ANSWER"
            with m.State("IMAGE"):
                # without weights the pixels are dropped
                m.d.comb += received.ready.eq(~pixel_waiting)
                with m.If(take):
                    m.d.sync += [count.eq(count + 1), pixel_waiting.eq(self.loaded),
                                 self.pixels.payload.eq(received.payload)]
                    with m.If((count == self.n_in - 1) & self.loaded):
                        m.next = "CLASS"
                    with m.Elif(count == self.n_in - 1):
                        m.d.sync += answer.eq(NOT_LOADED)
                        m.next = "ANSWER"
            with m.State("CLASS"):
                m.d.comb += [self.reply.payload.eq(self.result.payload),   # zero-extended
                             self.reply.valid.eq(self.result.valid),
                             self.result.ready.eq(self.reply.ready)]
                with m.If(self.result.valid & self.reply.ready):
                    m.next = "COMMAND"
            with m.State("LOAD"):
                m.d.comb += received.ready.eq(1)
                with m.If(received.valid):
                    m.d.sync += [crc.eq(next_crc),
                                 count.eq(count + 1)]
                    with m.If(count < image_bytes):
                        # little-endian: each byte enters at the top, the word shifts down
                        m.d.sync += word.eq((word >> 8) | (received.payload.as_unsigned()
                                                           << (layout.word_width - 8)))
                        m.d.sync += byte_in_word.eq(byte_in_word + 1)
                        with m.If(byte_in_word == word_bytes - 1):
                            m.d.sync += [byte_in_word.eq(0), self.weights_load.en.eq(1)]
                    with m.If(count == image_bytes + 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                good = crc == 0
                m.d.sync += [self.loaded.eq(good),
                             answer.eq(Mux(good, LOADED[0], BAD_CHECKSUM[0]))]
                m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.eq(answer)]
                with m.If(self.reply.ready):
                    m.next = "COMMAND"
        return m
