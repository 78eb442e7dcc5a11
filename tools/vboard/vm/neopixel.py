"""Virtual WS2812 chain: write() reports the LEDs that changed to the world."""
import machine
import vlink


class NeoPixel:
    def __init__(self, pin, n, *args, **kw):  # args, kw: bpp, timing (interned names else)
        self.n = n
        self._px = [(0, 0, 0)] * n
        self._sent = [-1] * n

    def __len__(self):
        return self.n

    def __setitem__(self, i, rgb):
        self._px[i] = rgb

    def __getitem__(self, i):
        return self._px[i]

    def fill(self, rgb):
        for i in range(self.n):
            self._px[i] = rgb

    def write(self):
        for i in range(self.n):
            r, g, b = self._px[i]
            v = (r << 16) | (g << 8) | b
            if v != self._sent[i]:
                self._sent[i] = v
                machine._send(vlink.NEO, i, v)
