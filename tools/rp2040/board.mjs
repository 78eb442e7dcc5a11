// The emulated RP2040 (rp2040js) with the Pico W image and its file system in flash, and
// its REPL over USB CDC: what session.mjs and speed.mjs both start from.
//
// Needs rp2040js (npm, package.json here) and the RP2040 B1 boot ROM as bootrom.mjs
// beside this file (exporting bootromB1, as rp2040js's demo/bootrom.ts does; not kept
// in this repository).
import { readFileSync } from 'fs';
import { Simulator, USBCDC, ConsoleLogger, LogLevel } from 'rp2040js';
import { bootromB1 } from './bootrom.mjs';

// A simulator with `image` (a .uf2) and `flashfs` (flashfs.py's file system) in its flash.
export function loadBoard(image, flashfs) {
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
  mcu.flash.set(readFileSync(flashfs), 0x200000 - 868352);  // the file system (flashfs.py)
  return { sim, mcu };
}

// The REPL: `onText(text)` gets what the board prints, `onConnected()` runs when the USB
// host side is up (a carriage return then asks for the prompt); `paste(code)` sends code
// in paste mode and runs it.
export function openRepl(mcu, onText, onConnected = () => {}) {
  const cdc = new USBCDC(mcu.usbCtrl);
  cdc.onDeviceConnected = () => { onConnected(); cdc.sendSerialByte(13); };
  cdc.onSerialData = (v) => onText(Buffer.from(v).toString('latin1'));
  const queue = [];  // sent a little at a time: the device's receive buffer is small
  const send = (t) => { for (const b of Buffer.from(t)) queue.push(b); };
  setInterval(() => { for (let i = 0; i < 32 && queue.length; i++) cdc.sendSerialByte(queue.shift()); }, 5);
  const paste = (code) => { send('\x05'); send(code.replace(/\n/g, '\r')); send('\x04'); };
  return { paste };
}

// Start the image from the start of flash (runs until the process exits).
export function run({ sim, mcu }) {
  mcu.core.PC = 0x10000000;
  sim.execute();
}
