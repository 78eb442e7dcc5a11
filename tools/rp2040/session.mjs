// The frozen Pico W image on an emulated RP2040 (rp2040js), with a pin-level harness:
// a car model on the pilot (PWM out, plateaus back on the ADC), the relay and its output
// sense, the residual-current detector's self-test, the WS2812 chain decoded, the REPL
// over USB CDC. One charging session A -> B -> C -> charging -> unplug (docs/hardware.md).
//
//   node tools/rp2040/session.mjs firmware.uf2 flashfs.img
//
// Needs what board.mjs needs (rp2040js, bootrom.mjs beside it).
import { loadBoard, openRepl, run } from './board.mjs';

const [image, flashfs] = process.argv.slice(2);
const board = loadBoard(image, flashfs);
const mcu = board.mcu;
const now = () => mcu.clock.nanos;  // simulated time
const ms = () => (now() / 1e6).toFixed(1);
const log = (s) => console.log(`[sim ${ms()} ms] ${s}`);

// ---- the world (pico_w.py pin map)
const CP_PWM = 16, RELAY = 17, RELAY_SENSE = 18, RCD_TRIP = 19, RCD_TEST = 20, PE_OK = 21;
const LED = 22, TOUCH = 13, SERVICE = 14, DIP = [6, 7, 8, 9];
const car = { plugged: false, state: 'B' };
let pwmRise = 0, pwmFall = 0, pwmHighNs = 0, pwmPeriodNs = 0, pwmLevel = true;
function dutyPct() {  // from the last full period; constant if no edge for 3 ms
  if (now() - Math.max(pwmRise, pwmFall) > 3e6) return pwmLevel ? 100 : 0;
  return pwmPeriodNs ? 100 * pwmHighNs / pwmPeriodNs : 0;
}
const offering = () => { const d = dutyPct(); return d >= 8 && d <= 97; };
function pilotState() {
  if (!car.plugged) return 'A';
  return car.state === 'C' && offering() ? 'C' : 'B';
}
const raw12 = (mv) => Math.max(0, Math.min(65535, 32768 + Math.trunc(mv * 65535 / 26400))) >> 4;
function updatePilotAdc() {
  const high = { A: 12000, B: 9000, C: 6000 }[pilotState()];
  mcu.adc.channelValues[0] = raw12(pwmLevel ? high : -12000);  // diode: low plateau -12 V
}
mcu.gpio[CP_PWM].addListener(() => {
  const level = mcu.gpio[CP_PWM].outputValue, t = now();
  if (level === pwmLevel) return;
  pwmLevel = level;
  if (level) { if (pwmRise) pwmPeriodNs = t - pwmRise; pwmRise = t; }
  else { pwmFall = t; pwmHighNs = t - pwmRise; }
  updatePilotAdc();
});
mcu.adc.channelValues[1] = 32767 >> 4;  // NTC at 25 C (10k / 10k divider)
mcu.adc.channelValues[2] = Math.trunc(230 * 10 * 65535 / 3300) >> 4;  // mains 230 V
let relay = false;
mcu.gpio[RELAY].addListener(() => {
  const r = mcu.gpio[RELAY].outputValue;
  if (r !== relay) { relay = r; log(`relay ${r ? 'CLOSED' : 'open'} (pilot ${pilotState()}, duty ${dutyPct().toFixed(1)} %)`); }
  mcu.gpio[RELAY_SENSE].setInputValue(!r);  // opto: low while the output is live
});
const rcdAlarm = mcu.clock.createAlarm(() => {
  if (mcu.gpio[RCD_TEST].outputValue) mcu.gpio[RCD_TRIP].setInputValue(true);
});
mcu.gpio[RCD_TEST].addListener(() => {
  if (mcu.gpio[RCD_TEST].outputValue) rcdAlarm.schedule(30e6);  // a healthy detector trips in 30 ms
  else mcu.gpio[RCD_TRIP].setInputValue(false);
});
for (const [pin, v] of [[RELAY_SENSE, true], [RCD_TRIP, false], [PE_OK, false], [TOUCH, true], [SERVICE, true],
                        [DIP[0], true], [DIP[1], true], [DIP[2], true], [DIP[3], false]]) mcu.gpio[pin].setInputValue(v);
updatePilotAdc();

// ---- WS2812 decoder: a bit is 1 when high longer than 625 ns; a frame ends after 50 us low
let bits = [], ledRise = 0, ledFall = 0, lastFrame = '';
const NAMES = { '0,0,0': 'off', '64,0,0': 'red', '0,64,0': 'green', '0,0,64': 'blue', '64,64,64': 'white', '64,24,0': 'orange' };
function flushFrame() {
  if (bits.length < 24) { bits = []; return; }
  const leds = [];
  for (let i = 0; i + 24 <= bits.length; i += 24) {
    const b = (k) => bits.slice(i + k, i + k + 8).reduce((a, x) => a * 2 + x, 0);
    const rgb = [b(8), b(0), b(16)];  // GRB on the wire
    leds.push(NAMES[rgb.join()] ?? rgb.join('/'));
  }
  bits = [];
  const s = leds.join(' ');
  if (s !== lastFrame) { lastFrame = s; log(`LEDs: ${s}`); }
}
mcu.gpio[LED].addListener(() => {
  const v = mcu.gpio[LED].outputValue, t = now();
  if (v) { if (ledFall && t - ledFall > 50000) flushFrame(); ledRise = t; }
  else { if (ledRise) bits.push(t - ledRise > 625 ? 1 : 0); ledFall = t; }
});
setInterval(() => { if (bits.length && now() - ledFall > 50000) flushFrame(); }, 50);

// ---- the REPL over USB CDC
let out = '', line = '';
const t0 = Date.now();
const { paste } = openRepl(mcu, (text) => {
  for (const c of text) {
    out += c;
    if (c === '\n') { if (!line.startsWith('===')) log('REPL| ' + line.trimEnd()); line = ''; } else line += c;
  }
}, () => log('USB CDC connected'));
const RUN = `import os
print("flash:", os.listdir("/"))
import rp2
st = os.statvfs("/")
print("HARNESS flash storage %d bytes, file system on / %d bytes" % (rp2.Flash().ioctl(4, 0) * 4096, st[1] * st[2]))
try:
    with open("probe.txt", "w") as f:
        f.write("x")
    print("flash write:", os.listdir("/"), open("probe.txt").read())
except OSError as e:
    print("flash write failed:", repr(e))
import boot
import gc, asyncio, vfs
class RAMDisk:  # the emulator cannot program flash: the firmware's files go here
    def __init__(self, n):
        self.d = bytearray(n * 512)
        self.n = n
    def readblocks(self, b, buf, off=0):
        buf[:] = memoryview(self.d)[b * 512 + off:b * 512 + off + len(buf)]
    def writeblocks(self, b, buf, off=0):
        self.d[b * 512 + off:b * 512 + off + len(buf)] = buf
    def ioctl(self, op, arg):
        return self.n if op == 4 else 512 if op == 5 else 0
disk = RAMDisk(64)
vfs.VfsLfs2.mkfs(disk)
vfs.mount(vfs.VfsLfs2(disk), "/ram")
for n in ("config.json",):
    with open(n) as f, open("/ram/" + n, "w") as g:
        g.write(f.read())
os.mkdir("/ram/log")
os.mkdir("/ram/txq")
os.chdir("/ram")
print("RAM disk /ram: %d bytes" % len(disk.d))
import time
try:
    from firmware.services.charging import control
except ImportError:  # an image frozen before the services' packages
    from firmware.services import control
tick = [0, 0]  # us in the control tick's step and ticks, since the last report
step = control.Control.step
def timed_step(self, now):
    t0 = time.ticks_us()
    step(self, now)
    tick[0] += time.ticks_diff(time.ticks_us(), t0)
    tick[1] += 1
control.Control.step = timed_step
async def report(a):
    while True:
        gc.collect()
        n = tick[1] or 1
        print("HARNESS mem_free %d tick_us_max %d tick_us_mean %d ticks %d status %s" % (gc.mem_free(), a.control.tick_us_max, tick[0] // n, tick[1], a.control.charger.status()))
        tick[0] = tick[1] = 0
        await asyncio.sleep_ms(1000)
async def journal(a):
    from firmware.services.platform import flashgate
    j = flashgate.journal
    print("HARNESS journal %s" % ("none (RAM only)" if j is None else "%r: %d bytes, end %d, dirty %s" % (j.dev, j.size, j.end, j.dirty)))
    while True:  # a supervised task that ends is restarted
        await asyncio.sleep_ms(60000)
boot.start([("harness", report), ("journal", journal)])
`;
let stage = 'boot', stageAt = 0;
function go(s) { stage = s; stageAt = now(); log(`--- ${s}`); }
setInterval(() => {
  if (stage === 'boot' && out.includes('>>> ')) {
    go('run'); paste(RUN);
  } else if (stage === 'run' && out.includes('HARNESS mem_free') && now() - stageAt > 3e9) {
    car.plugged = true; car.state = 'B'; updatePilotAdc(); go('plugged in, car in state B');
  } else if (stage === 'plugged in, car in state B' && offering()) {
    car.state = 'C'; updatePilotAdc(); go(`PWM offered (duty ${dutyPct().toFixed(1)} %), car asks: state C`);
  } else if (stage.startsWith('PWM offered') && relay && now() - stageAt > 0) {
    go('charging');
  } else if (stage === 'charging' && now() - stageAt > 5e9) {
    car.plugged = false; updatePilotAdc(); go('unplugged');
  } else if (stage === 'unplugged' && !relay && now() - stageAt > 3e9) {
    go('done'); log(`wall ${((Date.now() - t0) / 1000).toFixed(1)} s`); process.exit(0);
  }
  if (Date.now() - t0 > (+process.env.LIMIT_MS || 600000)) { log(`TIMEOUT in stage ${stage}`); process.exit(1); }
}, 20);
run(board);
