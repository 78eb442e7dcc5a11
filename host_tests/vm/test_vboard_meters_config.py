"""The virtual board's simulated meters follow config.json as the firmware saves it (a
checksummed record, services/platform/config.save_json), read with the firmware's own reader."""

from tools.provision import record
from vmrun import free_port


def test_meter_from_the_firmwares_checksummed_config(start_board):
    port = free_port()
    settings = {"charging.selftest_s": 1, "charging.retry_delay_s": 1, "meter.enabled": True,
                "meter.transport": "tcp", "meter.model": "sdm630", "meter.host": "127.0.0.1",
                "meter.port": port, "house.fuse_a": 25}
    saved = record({"v": 2, "s": settings})  # the text config.save_json writes
    assert saved.startswith('{"crc":"')
    w = start_board(None, files={"config.json": saved}, plugged=True, house_l1_a=10.0)
    assert w.meters is not None and w.meters.state()["grid"]["model"] == "sdm630"
    w.wait_for(lambda w: w.meters.state()["grid"]["requests"] > 2, 20)
    w.wait_for(lambda w: w.state()["firmware"]["limit_source"] == "load management", 20)
