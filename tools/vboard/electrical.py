"""The electrical model of the world, as a base class of world.World: the pilot
plateaus from the car's state and diode, the car drawing what the duty offers, the
relay's output side (the coil pin and the keep-alive monostable modelled on the VM
side, machine.py), the residual-current detector and its test input, the sensors'
ADC values; every input pin's value for the current state (`_targets`), and the next
moment it changes by itself (`_next_due`) for the event-driven physics thread."""
import math
import time

from tools.vboard.link import board, vlink


class Electrical:
    def pwm_duty_bp(self):
        """The pilot generator's duty in 0.01 % (10000 = constant +12 V)."""
        d = self.duty.get(board.CP_PWM, 65535)
        return d * 10000 // 65535 if d < 65535 else 10000

    def offering(self):
        bp = self.pwm_duty_bp()
        return 800 <= bp <= 9700

    def relay_closed(self):
        """The contacts: the coil pin high and the keep-alive monostable holding."""
        return self.pins.get(board.RELAY, 0) == 1 and self.keepalive()

    def keepalive(self):
        """The keep-alive monostable's output: pulses came within its drop-out time."""
        return self.pins.get(board.RELAY_KEEPALIVE, 0) == 1

    def output_live(self):
        i = self.inputs
        contacts = (self.relay_closed() and not i["relay_dead"]) or i["relay_welded"]
        return contacts and i["mains_v"] > 20

    def car_pilot_state(self):
        """What the car presents: 'A' (none) .. 'D', or 'E' (pilot shorted)."""
        i = self.inputs
        if i["pilot_short"]:
            return "E"
        if not i["plugged"]:
            return "A"
        want = i["car_state"]
        if want == "B" or i["sleeping"] and not self._woken:
            return "B"
        if self.offering():
            self._car_c_since = None
            return want
        # PWM stopped: the car follows within 0.3 s, a stubborn one never does
        if i["stubborn"] and self.relay_closed():
            return want
        now = time.monotonic()
        if self._car_c_since is None:
            self._car_c_since = now
        return want if now - self._car_c_since < 0.3 and self.relay_closed() else "B"

    def car_current_a(self):
        i = self.inputs
        if not (self.output_live() and self.car_pilot_state() in ("C", "D")):
            return 0.0
        from firmware.core.pilot import da_from_duty
        offered = da_from_duty(self.pwm_duty_bp()) / 10
        if offered == 0 and not i["stubborn"]:
            return 0.0
        return min(offered or i["car_max_a"], i["car_max_a"]) + i["overdraw_a"]

    def pilot_plateaus_mv(self):
        s = self.car_pilot_state()
        high = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}[s]
        if s == "E":
            low = 0
        elif s == "A" or self.inputs["diode"]:
            low = -12000
        else:
            low = -high  # resistive load: the low plateau mirrors the high one
        return high, low

    @staticmethod
    def mv_to_raw(mv):
        raw = board.CP_ZERO_RAW + mv * board.CP_MV_DEN // board.CP_MV_NUM
        return max(0, min(65535, raw))

    @staticmethod
    def ntc_raw(temp_c):
        r = board.NTC_R25 * math.exp(board.NTC_BETA * (1 / (temp_c + 273.15) - 1 / 298.15))
        return int(65535 * r / (r + board.NTC_PULLUP))

    def _targets(self):
        """Every input pin's value for the current world state: {(op, pin): value}."""
        i = self.inputs
        t = {}
        high, low = self.pilot_plateaus_mv()
        noise = i["pilot_noise_mv"]
        if noise:
            import random
            high += random.randint(-noise, noise)
            low += random.randint(-noise, noise)
        t[(vlink.SET_IN, board.CP_ADC)] = self.mv_to_raw(high)
        t[(vlink.SET_ALT, board.CP_ADC)] = self.mv_to_raw(low)
        t[(vlink.SET_IN, board.RELAY_SENSE)] = 0 if self.output_live() else 1
        # the pilot comparator: high plateau above the C/B threshold (A or B), PWM running
        pwm = self.duty.get(board.CP_PWM, 65535) > 0
        t[(vlink.SET_IN, board.CP_COMPARATOR)] = 1 if pwm and high > 7500 else 0
        rcd_test = self.pins.get(board.RCD_TEST, 0) == 1
        now = time.monotonic()
        if rcd_test and self.rcd_test_since is None:
            self.rcd_test_since = now
        elif not rcd_test:
            self.rcd_test_since = None
        test_trip = (rcd_test and i["rcd_healthy"] and now - self.rcd_test_since > 0.03)
        t[(vlink.SET_IN, board.RCD_TRIP)] = 1 if (i["residual_ma"] >= 6 or test_trip) else 0
        t[(vlink.SET_IN, board.PE_OK)] = 0 if i["pe_ok"] else 1
        t[(vlink.SET_IN, board.NTC_ADC)] = self.ntc_raw(i["temp_c"])
        t[(vlink.SET_IN, board.MAINS_ADC)] = min(65535, int(i["mains_v"] * 10 * board.MAINS_DV_DEN
                                                        // board.MAINS_DV_NUM))
        amps = self.car_current_a()
        for n, pin in enumerate(board.CT_ADC):
            a = amps if n < i["car_phases"] else 0.0
            t[(vlink.SET_IN, pin)] = min(65535, int(a * 10 * board.CT_DA_DEN // board.CT_DA_NUM))
        t[(vlink.SET_IN, board.SERVICE_BUTTON)] = 0 if i["service_button"] else 1
        t[(vlink.SET_IN, board.TOUCH_BUTTON)] = 0 if i["touch_button"] else 1
        for bit, pin in enumerate(board.DIP_PINS):
            t[(vlink.SET_IN, pin)] = 0 if i["dip"] >> bit & 1 else 1
        t.update(self._rfid_t)  # the reader's card field (rc522_sim)
        return t

    def _next_due(self, now):
        """The next moment the world changes by itself: a button released, a tapped card
        leaving, the car following the stopped PWM (0.3 s), the RCD's test trip (30 ms),
        the pilot noise drawn again (every tick_s); None if nothing is pending."""
        due = [p[1] for p in self._presses] + [c[2] for c in self._card_off]
        # just after the thresholds of car_pilot_state and _targets; once past, no more
        for since, after in ((self._car_c_since, 0.3), (self.rcd_test_since, 0.03)):
            if since is not None and since + after + 0.001 > now:
                due.append(since + after + 0.001)
        if self.inputs["pilot_noise_mv"]:
            due.append(now + self.tick_s)
        return min(due) if due else None
