"""The server benchmark (scripts/bench_serve.py, zoo_bench.serve_load) on a tiny registry: a
short bounded run against a real zoo serve answers every GET and prints its figures (no timing
is asserted: that is the benchmark's job, in docs/performance.md); and the doc sections the
benchmarks write."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.spec import ZooCard
from zoo_bench import serve_load
from zoo_bench.fixtures import build_tiny_package, card_dict
from zoo_bench.perfdoc import write_section


@pytest.mark.slow
def test_a_tiny_run_answers_every_get_and_prints_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = build_tiny_package(tmp_path / "pkg", ZooCard.model_validate(card_dict()))
    doc = tmp_path / "performance.md"
    argv = ["--models", "3", "--versions", "2", "--clients", "2", "--requests", "200",
            "--alone", "20", "--seconds", "60", "--package", str(package),
            "--write", str(doc)]  # fmt: skip
    assert serve_load.main(argv) == 0
    out = capsys.readouterr().out
    assert "| mix | 200 | 0 |" in out  # every GET of the mix answered, no error
    for kind in serve_load.KINDS:
        assert f"| {kind} alone | 20 | 0 |" in out
    assert "server mix:" in out and "server download alone:" in out and "GET/s at p99" in out
    text = doc.read_text()
    assert "<!-- begin bench_serve-workers1" in text and "| mix | 200 | 0 |" in text


def test_a_response_is_read_by_its_content_length() -> None:
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
               b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno"]  # fmt: skip

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            for answer in answers:
                conn.recv(1024)
                conn.sendall(answer[:20])  # in two pieces: the client must wait for the rest
                conn.sendall(answer[20:])

    thread = threading.Thread(target=serve)
    thread.start()
    client = serve_load.Connection("127.0.0.1", server.getsockname()[1])
    assert client.get("/a") == (200, bytearray(b"hello"))
    assert client.get("/b") == (404, bytearray(b"no"))  # the same keep-alive connection
    client.close()
    thread.join(10)
    server.close()


def test_a_section_replaces_only_itself(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nWritten by hand.\n")
    write_section(doc, "one", "first")
    write_section(doc, "two", "second")
    write_section(doc, "one", "first, again")
    text = doc.read_text()
    assert text.startswith("# Performance\n\nWritten by hand.\n")
    assert "first, again" in text and "first\n" not in text and "second" in text
    assert text.index("first, again") < text.index("second")  # kept in its place
