"""A hung event loop: the timer-driven control loop still protects, the watchdog resets."""
from tools.vboard.world import vlink


def test_hung_event_loop_keeps_the_relay_safe_and_the_watchdog_resets(start_board):
    w = start_board(plugged=True)
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)
    w.extra_env["VBOARD_HANG_AFTER_MS"] = "3000"  # after boot 2 closes the relay
    w.power_cycle()
    w.wait_for(lambda w: w.boots == 2 and w.relay_closed(), timeout=30)
    w.wait_for(lambda w: "vboard: the event loop hangs now" in w.console, timeout=10)
    # No task runs any more, yet the control tick still opens the relay on unplug.
    w.set(plugged=False)
    w.wait_for(lambda w: not w.relay_closed(), timeout=2)
    # The supervisor cannot feed the watchdog: the board resets by itself.
    w.wait_for(lambda w: vlink.WDT_RESET in w.resets and w.boots == 3, timeout=20)
