#!/usr/bin/env python3
# Correlates `dit bench model` step logs (DIT_BENCH_STEP_LOG=1) with node --trace-gc lines in the same console files:
# per run, the steps whose wall time exceeds GPU time + encode by > 5 ms and how many of them contain a Mark-Compact.
#   python3 scripts/gc-step-analysis.py DIR plain gc-wait ...     (reads DIR/<name>.console; scripts/gpu-call-gc.sh)
import re,sys,statistics
d=sys.argv[1]
for n in sys.argv[2:]:
    L=open(f'{d}/{n}.console',errors='replace').read().splitlines()
    steps=[];gcs=[]
    for l in L:
        m=re.match(r'step (\d+): start ([\d.]+) ms, wall ([\d.]+), gpu ([\d.]+), encode ([\d.]+)',l)
        if m: steps.append(tuple(float(x) for x in m.groups()))
        m=re.search(r'\]\s+(\d+) ms: (Scavenge|Mark-Compact)[^,]*, ([\d.]+) /',l)
        if m: gcs.append((float(m.group(1)),m.group(2),float(m.group(3))))
    slow=0;slowgc=0;excess=[]
    for (i,t0,w,g,e) in steps:
        x=w-g-e; excess.append(x)
        inside=[gc for gc in gcs if t0<=gc[0]<=t0+w]
        mc=[gc for gc in inside if gc[1]=='Mark-Compact']
        sc=sum(gc[2] for gc in inside)
        if x>5: slow+=1; slowgc+= 1 if mc else 0
    mcs=[gc for gc in gcs if gc[1]=='Mark-Compact' and gc[0]>=steps[0][1]]
    print(n, 'steps',len(steps),'median wall',statistics.median([s[2] for s in steps]),'gpu',statistics.median([s[3] for s in steps]),'enc',statistics.median([s[4] for s in steps]),
      'excess>5ms:',slow,'of which with a Mark-Compact inside:',slowgc,'MC during timing:',len(mcs),'mean MC ms',round(statistics.mean([g[2] for g in mcs]),1) if mcs else '-', 'median excess', round(statistics.median(excess),1), 'mean excess', round(statistics.mean(excess),1))
