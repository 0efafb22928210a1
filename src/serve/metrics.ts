// Prometheus metrics (prom-client, one registry per server so tests can run several): queue depth, SLO
// attainment, step latency by resolution and degree, GPU busy time and liveness, scheduler decision time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Driver } from './driver.js';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'outcome'>;
  readonly rejected: Counter<'reason'>;
  readonly stepSeconds: Histogram<'resolution' | 'degree'>;
  readonly stageSeconds: Histogram<'stage'>;
  readonly decisionSeconds: Histogram;
  private met = 0;
  private finished = 0;

  constructor(driver: Driver, defaults = false) {
    const r = this.registry;
    if (defaults) collectDefaultMetrics({ register: r });
    this.requests = new Counter({ name: 'tetriserve_requests_finished_total', help: 'Finished requests by outcome (met, missed, cancelled, failed)', labelNames: ['outcome'], registers: [r] });
    this.rejected = new Counter({ name: 'tetriserve_requests_rejected_total', help: 'Requests refused at admission by reason', labelNames: ['reason'], registers: [r] });
    this.stepSeconds = new Histogram({
      name: 'tetriserve_step_seconds', help: 'Denoising step latency by resolution and parallel degree', labelNames: ['resolution', 'degree'], registers: [r],
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    });
    this.stageSeconds = new Histogram({ name: 'tetriserve_stage_seconds', help: 'Text encoding and decoding time', labelNames: ['stage'], registers: [r], buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5] });
    this.decisionSeconds = new Histogram({ name: 'tetriserve_scheduler_decision_seconds', help: 'Wall time of one planRound call', registers: [r], buckets: [1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05] });
    const self = this;
    new Gauge({ name: 'tetriserve_queue_depth', help: 'Admitted requests not yet finished and not running', registers: [r], collect() { this.set(driver.unfinishedJobs.filter((j) => j.state === 'queued').length); } });
    new Gauge({ name: 'tetriserve_running_requests', help: 'Requests with an assignment in flight', registers: [r], collect() { this.set(driver.unfinishedJobs.filter((j) => j.state === 'running').length); } });
    new Gauge({ name: 'tetriserve_slo_attainment', help: 'Fraction of finished requests that met their deadline', registers: [r], collect() { this.set(self.finished ? self.met / self.finished : 1); } });
    new Gauge({
      name: 'tetriserve_gpu_busy_seconds', help: 'Seconds each GPU spent running assignments (encode, steps, decode)', labelNames: ['gpu'], registers: [r],
      collect() { for (const w of driver.workers) this.set({ gpu: String(w.gpu) }, w.busySeconds); },
    });
    new Gauge({
      name: 'tetriserve_gpu_alive', help: '1 while the GPU worker serves, 0 after it was lost', labelNames: ['gpu'], registers: [r],
      collect() { const alive = new Set(driver.aliveGpus); for (const w of driver.workers) this.set({ gpu: String(w.gpu) }, alive.has(w.gpu) ? 1 : 0); },
    });
    driver.on('decision', (d) => this.decisionSeconds.observe(d.seconds));
    driver.on('step', (s) => this.stepSeconds.observe({ resolution: String(s.job.params.resolution), degree: String(s.gpus.length) }, s.seconds));
    driver.on('stage', (s) => this.stageSeconds.observe({ stage: s.stage }, s.seconds));
    driver.on('finished', (j) => {
      const outcome = j.state === 'done' ? (j.met ? 'met' : 'missed') : j.state;
      this.requests.inc({ outcome });
      this.finished++;
      if (j.met) this.met++;
    });
  }

  get attainment(): { met: number; finished: number } {
    return { met: this.met, finished: this.finished };
  }
}
