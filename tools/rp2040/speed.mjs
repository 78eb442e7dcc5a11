// The board scale's benchmark (tools/rp2040/speed.py) on the frozen Pico W image in the
// emulated RP2040 (rp2040js): boots the image, pastes the script at the REPL and prints
// its SPEED line, timed by the emulated chip's own clock (cycle-counted at 125 MHz).
//
//   node tools/rp2040/speed.mjs firmware.uf2 flashfs.img tools/rp2040/speed.py
//
// Needs what session.mjs needs (rp2040js from package.json, bootrom.mjs beside it).
import { readFileSync } from 'fs';
import { Simulator, USBCDC, ConsoleLogger, LogLevel } from 'rp2040js';
import { bootromB1 } from './bootrom.mjs';

const [image, flashfs, script] = process.argv.slice(2);
const sim = new Simulator();
const mcu = sim.rp2040;
mcu.loadBootrom(bootromB1);
mcu.logger = new ConsoleLogger(LogLevel.Error);
const uf2 = readFileSync(image);
for (let off = 0; off + 512 <= uf2.length; off += 512) {
  const dv = new DataView(uf2.buffer, uf2.byteOffset + off, 512);
  if (dv.getUint32(0, true) !== 0x0a324655) continue;
  mcu.flash.set(uf2.subarray(off + 32, off + 32 + dv.getUint32(16, true)), dv.getUint32(12, true) - 0x10000000);
}
mcu.flash.set(readFileSync(flashfs), 0x200000 - 868352);  // the filesystem (flashfs.py)

const cdc = new USBCDC(mcu.usbCtrl);
let out = '';
cdc.onDeviceConnected = () => cdc.sendSerialByte(13);
cdc.onSerialData = (v) => { out += Buffer.from(v).toString('latin1'); };
const queue = [];  // a little at a time: the device's receive buffer is small
const send = (t) => { for (const b of Buffer.from(t)) queue.push(b); };
setInterval(() => { for (let i = 0; i < 32 && queue.length; i++) cdc.sendSerialByte(queue.shift()); }, 5);
let pasted = false;
const t0 = Date.now();
setInterval(() => {
  if (!pasted && out.includes('>>> ')) {
    pasted = true;
    send('\x05'); send(readFileSync(script, 'latin1').replace(/\n/g, '\r')); send('\x04');
  }
  const m = out.match(/SPEED (\{[^\r\n]*\})/);
  if (m) { console.log('SPEED ' + m[1]); process.exit(0); }
  if (/Traceback[\s\S]*Error[^\r\n]*\r?\n/.test(out)) { console.log(out); process.exit(1); }
  if (Date.now() - t0 > (+process.env.LIMIT_MS || 600000)) { console.log('TIMEOUT\n' + out); process.exit(1); }
}, 50);
mcu.core.PC = 0x10000000;
sim.execute();
