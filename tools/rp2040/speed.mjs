// The board scale's benchmark (tools/rp2040/speed.py) on the frozen Pico W image in the
// emulated RP2040 (rp2040js): boots the image, pastes the script at the REPL and prints
// its SPEED line, timed by the emulated chip's own clock (cycle-counted at 125 MHz).
//
//   node tools/rp2040/speed.mjs firmware.uf2 flashfs.img tools/rp2040/speed.py
//
// Needs what board.mjs needs (rp2040js, bootrom.mjs beside it).
import { readFileSync } from 'fs';
import { loadBoard, openRepl, run } from './board.mjs';

const [image, flashfs, script] = process.argv.slice(2);
const board = loadBoard(image, flashfs);
let out = '';
const { paste } = openRepl(board.mcu, (text) => { out += text; });
let pasted = false;
const t0 = Date.now();
setInterval(() => {
  if (!pasted && out.includes('>>> ')) {
    pasted = true;
    paste(readFileSync(script, 'latin1'));
  }
  const m = out.match(/SPEED (\{[^\r\n]*\})/);
  if (m) { console.log('SPEED ' + m[1]); process.exit(0); }
  if (/Traceback[\s\S]*Error[^\r\n]*\r?\n/.test(out)) { console.log(out); process.exit(1); }
  if (Date.now() - t0 > (+process.env.LIMIT_MS || 600000)) { console.log('TIMEOUT\n' + out); process.exit(1); }
}, 50);
run(board);
