"""Networking and time on the virtual board: the hotspot from the first start, the Wi-Fi
client with backoff and the hotspot coming back when it fails, NTP over a real UDP
socket, and the network info at the REPL."""
import time

import pytest

from udpservers import DnsServer, NtpServer


def console_has(w, text):
    return any(text in line for line in w.console)


@pytest.fixture
def ntp():
    s = NtpServer(skew_s=86400 * 400)  # a clock clearly not the host's
    yield s
    s.close()


def test_hotspot_from_the_first_start_with_the_provisioned_name(start_board):
    w = start_board(files={"prov.json": '{"serial": "WB2611000123", "hotspot_password": '
                                        '"kT9wqPzR4mXa", "board": "virtual"}'})
    w.wait_for(lambda w: console_has(w, "hotspot WB2611000123 on"), timeout=10)


def test_wifi_client_connects_and_time_comes_from_ntp(start_board, ntp):
    w = start_board(config={"net.wifi": True, "net.wifi_ssid": "home",
                            "net.wifi_password": "secret-pw", "net.hotspot": False,
                            "time.ntp_server": "127.0.0.1:%d" % ntp.port},
                    env={"VBOARD_NETWORKS": "home:secret-pw:-55,other:x:-70"})
    w.wait_for(lambda w: console_has(w, "Wi-Fi connected to home: 192.168.1.50"), timeout=15)
    w.wait_for(lambda w: console_has(w, "clock set by NTP: "), timeout=15)
    assert ntp.queries >= 1
    year = time.gmtime(time.time() + ntp.skew)[0]
    line = [x for x in w.console if "clock set by NTP: " in x][-1]
    assert line.split("clock set by NTP: ")[1].startswith(str(year))
    assert not console_has(w, "hotspot ")  # switched off, and the client connected
    # the data log carries the network time from then on
    w.wait_for(lambda w: ("\t%d-" % year) in w.flash_log(), timeout=40)


def test_failing_client_network_brings_the_hotspot_back_and_retries(start_board):
    w = start_board(config={"net.wifi": True, "net.wifi_ssid": "home",
                            "net.wifi_password": "secret-pw", "net.hotspot": False},
                    env={"VBOARD_NETWORKS": "home:secret-pw:-55"})
    w.wait_for(lambda w: console_has(w, "Wi-Fi connected to home"), timeout=15)
    assert not console_has(w, "hotspot ")
    w.set_network(0, False)  # the router goes away
    w.wait_for(lambda w: console_has(w, " on") and console_has(w, "hotspot UNPROV-"),
               timeout=40)  # the hotspot comes back: nobody locked out
    w.wait_for(lambda w: console_has(w, "Wi-Fi home not reachable (1); next try in 5 s"),
               timeout=40)
    w.set_network(0, True)
    w.wait_for(lambda w: sum("Wi-Fi connected to home" in x for x in w.console) >= 2,
               timeout=60)
    w.wait_for(lambda w: console_has(w, "hotspot off"), timeout=10)  # as configured again


def test_a_slow_ntp_name_lookup_does_not_hold_the_event_loop(start_board, ntp):
    """The VM's name lookups block as a board's do (tools/vboard/vm/vsocket.py): while the
    DNS server holds the NTP server's name, the web server still answers."""
    from webclient import raw, start_web_board, status_code
    dns = DnsServer({"ntp.test": "127.0.0.1"}, held=True)
    try:
        w = start_web_board(start_board, config={
            "net.wifi": True, "net.wifi_ssid": "home", "net.wifi_password": "secret-pw",
            "time.ntp_server": "ntp.test:%d" % ntp.port},
            env={"VBOARD_NETWORKS": "home:secret-pw:-55",
                 "VBOARD_DNS": "127.0.0.1:%d" % dns.port})
        assert dns.asked.wait(20), w.console[-20:]
        answer = raw(w, b"GET / HTTP/1.0\r\n\r\n", timeout=10)  # the lookup still pending
        assert not dns.release.is_set()
        assert status_code(answer) == 200, answer[:100]
        dns.release.set()
        w.wait_for(lambda w: console_has(w, "clock set by NTP: "), timeout=90)
        assert ntp.queries >= 1
    finally:
        dns.close()
