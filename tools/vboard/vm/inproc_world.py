"""The world played inside the VM, without the link: for benchmarks of the control tick
and for tests that drive the firmware's objects directly (diag). A car in C, mains
present, relay feedback and a healthy residual-current detector."""
import time

import machine
from firmware.boards import virtual as b


def _raw(mv):
    return b.CP_ZERO_RAW + mv * b.CP_MV_DEN // b.CP_MV_NUM


def setup(car_mv=6000, dip=8):
    machine._in[b.CP_ADC] = _raw(car_mv)
    machine._alt[b.CP_ADC] = _raw(-12000)
    machine._couple[b.CP_ADC] = b.CP_PWM
    machine._in[b.MAINS_ADC] = 2300 * b.MAINS_DV_DEN // b.MAINS_DV_NUM
    machine._in[b.NTC_ADC] = 32768  # 25 degC
    machine._in[b.RELAY_SENSE] = 1
    machine._in[b.PE_OK] = 0
    machine._in[b.SERVICE_BUTTON] = 1
    machine._in[b.TOUCH_BUTTON] = 1
    for bit, p in enumerate(b.DIP_PINS):
        machine._in[p] = 0 if dip >> bit & 1 else 1


class Stepper:
    """Runs the control loop by hand, one tick per call, answering its outputs."""

    def __init__(self, control):
        self.control = control
        self.now = time.ticks_ms()

    def tick(self):
        ctl = self.control
        self.now = time.ticks_add(self.now, b.TICK_MS)
        machine._in[b.RCD_TRIP] = 1 if ctl.charger.rcd_test else 0
        machine._in[b.RELAY_SENSE] = 0 if ctl.hw.relay.closed else 1
        ctl.step(self.now)

    def run(self, n):
        for _ in range(n):
            self.tick()
