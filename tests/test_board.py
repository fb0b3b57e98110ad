"""The host program (flows.board) against the board top on Verilator, over a pseudo-terminal
at the board's clock and baud rate (sim/serial_board.py), and its errors."""
import binascii
import os
import pty
import time
import tty

import numpy as np
import pytest

from flows import board as board_flow
from flows import build as build_flow
from flows.board import BoardError, BoardLink, open_port
from flows.common import FlowError
from hdl.export import build_top
from sim.serial_board import SimulatedBoard

CODINGS = ["phase", "radix", "deferred", "rate", "tsc"]
ICEBREAKER_HZ = 12e6


class ChunkedLateHost:
    """A port that writes an image in chunks with pauses between them and reads its answer
    late: the board must wait for the rest of the image, and its class byte must wait for
    the host."""

    def __init__(self, port, chunk: int = 23, pause: float = 0.15, late: float = 0.4):
        self.port, self.chunk, self.pause, self.late = port, chunk, pause, late
        self.timeout = port.timeout

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.chunk):
            self.port.write(data[start:start + self.chunk])
            self.port.flush()
            time.sleep(self.pause)

    def flush(self) -> None:
        self.port.flush()

    def read(self, size: int) -> bytes:
        time.sleep(self.late)
        return self.port.read(size)


def host_on_simulated_board(network, images, directory, chunked: bool) -> np.ndarray:
    with SimulatedBoard(build_top(network, 1), ICEBREAKER_HZ, directory) as name:
        port = open_port(name, timeout=60)
        try:
            link = BoardLink(ChunkedLateHost(port) if chunked else port,
                             network.layers[-1].n_out)
            return link.classify(images)
        finally:
            port.close()


# CI: the unsigned and the signed spike codings (the board top does not depend on the
# coding; every coding's snn_top has its own Verilator test); the rest in the full regression
@pytest.mark.parametrize("coding", [
    pytest.param(coding, marks=() if coding in ("phase", "tsc") else pytest.mark.slow)
    for coding in CODINGS])
def test_host_program_classifies_on_the_simulated_board(make_network, split, coding, tmp_path):
    """Three images on the iCEBreaker's board top (12 MHz, 115200 baud): one chunked with
    pauses and read late, the next ones back to back; the classes are the golden model's."""
    network = make_network(coding)
    images = split.test_pixels[:3].reshape(3, -1)
    classes = host_on_simulated_board(network, images, tmp_path, chunked=True)
    np.testing.assert_array_equal(classes, network.simulate(images).classes)


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
def test_host_program_on_the_simulated_board_more_images(make_network, split, coding, tmp_path):
    network = make_network(coding)
    images = split.test_pixels[:40].reshape(40, -1)
    classes = host_on_simulated_board(network, images, tmp_path, chunked=False)
    np.testing.assert_array_equal(classes, network.simulate(images).classes)


def test_a_board_that_does_not_answer_names_the_image(split):
    master, slave = pty.openpty()       # a serial line with nothing on the other end
    tty.setraw(slave)
    port = open_port(os.ttyname(slave), timeout=0.3)
    try:
        with pytest.raises(BoardError, match=r"within 0.3 s after image 0 \(of 2\)"):
            BoardLink(port, 10).classify(split.test_pixels[:2].reshape(2, -1))
    finally:
        port.close()
        os.close(slave)
        os.close(master)


def test_an_answer_that_is_no_class_is_a_clear_error():
    port = open_port("loop://", timeout=1)      # echoes the image: its first byte answers
    image = np.full((1, 64), 200, dtype=np.uint8)
    with pytest.raises(BoardError, match="answered 200 to image 0: not a class"):
        BoardLink(port, 10).classify(image)


def test_no_such_port_is_a_clear_error():
    with pytest.raises(FlowError, match="--port /dev/no-such-tty: cannot open it"):
        open_port("/dev/no-such-tty", timeout=1)


def test_a_build_without_a_board_is_refused(tmp_path, split, capsys):
    out = tmp_path / "golden"
    assert build_flow.main(["--golden-only", "--T", "8", "--out", str(out)]) == 0
    images = tmp_path / "images.npy"
    np.save(images, split.test_pixels[:2])
    capsys.readouterr()
    assert board_flow.main([str(out), "--port", "sim", "--images", str(images)]) == 2
    assert "built for board 'none', which has no UART board top" in capsys.readouterr().err


@pytest.mark.parametrize("spram_layers", [
    ["layer3"], pytest.param(["layer1", "layer2", "layer3"], marks=pytest.mark.slow)])
def test_weights_loaded_over_the_uart_on_the_simulated_board(make_network, split, tmp_path,
                                                             spram_layers):
    """A build with weight tables in SPRAM (the iCEBreaker's board top, 12 MHz, 115200 baud;
    CI: the last layer's 320 weights, the full regression: all 6,464): before a load the
    board refuses images; a frame with a wrong checksum is refused and reported; after a
    good load the classes are the golden model's."""
    network = make_network("phase")
    images = split.test_pixels[:2].reshape(2, -1)
    top = build_top(network, 1, spram_layers=spram_layers)
    weights = top.spram_layout.image()
    with SimulatedBoard(top, ICEBREAKER_HZ, tmp_path) as name:
        # the simulated UART carries about 90 bytes per second
        port = open_port(name, timeout=60 + len(weights) / 30)
        try:
            link = BoardLink(port, network.layers[-1].n_out, commands=True)
            with pytest.raises(BoardError, match="refused image 0: it has no weights loaded"):
                link.classify(images[:1])
            good_crc = binascii.crc_hqx(weights, 0xFFFF)
            with pytest.raises(BoardError, match="refused the weights: their checksum"):
                link.load_weights(weights, crc=good_crc ^ 0x0100)
            with pytest.raises(BoardError, match="refused image 0: it has no weights loaded"):
                link.classify(images[:1])
            link.load_weights(weights)
            classes = link.classify(images)
        finally:
            port.close()
    np.testing.assert_array_equal(classes, network.simulate(images).classes)
