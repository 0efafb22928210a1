// Polls /v1/dashboard/state and draws the "Tetris": one row per GPU, time to the right, one block per assignment
// (colour per request), round boundaries as grey lines, dead GPUs hatched red.
const canvas = document.getElementById('tetris');
const g = canvas.getContext('2d');
const LEFT = 60;

function colour(id) {
  const h = (id * 137.508) % 360;
  return `hsl(${h}, 65%, 55%)`;
}

function draw(s) {
  const W = canvas.width - LEFT - 10;
  const rowH = Math.max(20, Math.min(60, (canvas.height - 30) / Math.max(1, s.gpus.length)));
  const t0 = s.now - s.window;
  const x = (t) => LEFT + ((t - t0) / s.window) * W;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.font = '12px sans-serif';
  s.gpus.forEach((gpu, i) => {
    const y = 10 + i * rowH;
    g.fillStyle = gpu.alive ? '#f4f4f4' : '#fbe0e0';
    g.fillRect(LEFT, y, W, rowH - 4);
    g.fillStyle = gpu.alive ? '#222' : '#c00';
    g.fillText(`GPU ${gpu.gpu}${gpu.alive ? '' : ' ✗'}`, 4, y + rowH / 2);
  });
  g.strokeStyle = '#bbb';
  for (const t of s.rounds) {
    g.beginPath();
    g.moveTo(x(t), 6);
    g.lineTo(x(t), 10 + s.gpus.length * rowH);
    g.stroke();
  }
  for (const a of s.assignments) {
    const x0 = Math.max(LEFT, x(a.start));
    const x1 = Math.max(x0 + 2, x(a.end));
    for (const gpu of a.gpus) {
      const i = s.gpus.findIndex((q) => q.gpu === gpu);
      const y = 10 + i * rowH;
      g.fillStyle = colour(a.requestId);
      g.fillRect(x0, y + 2, x1 - x0, rowH - 8);
      if (x1 - x0 > 24) {
        g.fillStyle = '#000';
        g.fillText(`#${a.requestId}`, x0 + 3, y + rowH / 2);
      }
    }
  }
  g.fillStyle = '#555';
  g.fillText(`-${s.window} s`, LEFT, canvas.height - 6);
  g.fillText('now', LEFT + W - 24, canvas.height - 6);
}

function table(s) {
  const body = document.querySelector('#queuetable tbody');
  body.innerHTML = '';
  for (const q of s.queue) {
    const tr = document.createElement('tr');
    for (const v of [`#${q.num}`, q.state, `${q.size}²`, `${q.steps_done}/${q.steps}`, `${q.deadline_in.toFixed(1)} s`]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function tick() {
  try {
    const r = await fetch('/v1/dashboard/state');
    const s = await r.json();
    document.getElementById('policy').textContent = `policy: ${s.policy}`;
    document.getElementById('slo').textContent = `SLO attainment: ${s.slo.attainment === null ? '—' : (100 * s.slo.attainment).toFixed(1) + '%'} (${s.slo.met}/${s.slo.finished})`;
    document.getElementById('queue').textContent = `unfinished: ${s.queue.length}`;
    document.getElementById('gpus').textContent = `GPUs alive: ${s.gpus.filter((q) => q.alive).length}/${s.gpus.length}`;
    draw(s);
    table(s);
    document.body.dataset.updated = String(Date.now());
  } catch (e) {
    document.getElementById('policy').textContent = `cannot reach the server: ${e}`;
  }
}
tick();
setInterval(tick, 500);
