# Runs first at power-up: open the relay before anything else is imported.
import gc

gc.threshold(4096)  # collect often while importing: less fragmentation, a lower heap floor
try:
    from machine import Pin

    from firmware import boards

    Pin(boards.load().RELAY, Pin.OUT, value=0)
except Exception as e:  # noqa: BLE001 - boot must go on; the app opens it again
    print("boot: could not set the relay pin:", e)
