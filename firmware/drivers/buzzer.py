"""Piezo buzzer on a PWM pin; plays tone sequences (see core/tones.py) without blocking."""
import asyncio


class Buzzer:
    def __init__(self, pwm):
        self._pwm = pwm
        self._pwm.duty_u16(0)
        self.freq = 0

    def tone(self, freq):
        self.freq = freq
        if freq:
            self._pwm.freq(freq)
            self._pwm.duty_u16(32768)
        else:
            self._pwm.duty_u16(0)

    async def play(self, sequence):
        try:
            for freq, ms in sequence:
                self.tone(freq)
                await asyncio.sleep_ms(ms)
        finally:
            self.tone(0)
