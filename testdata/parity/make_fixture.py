"""Writes events.csv: the time-ordered parity fixture (deterministic).

6,000 transactions over 240 cards across ~200 days, amounts log-normal with a
few huge ones and some tiny-spread runs (999,999.90 … 1,000,000.00), and
several transactions of one card at the same millisecond. Run:

    python3 testdata/parity/make_fixture.py > testdata/parity/events.csv
"""
import math
import random

rng = random.Random(20261127)
start = 1767225600000  # 2026-01-01T00:00:00Z
rows = []
n_id = 0
for c in range(240):
    card = f"card-{c:04d}"
    t = start + rng.randrange(0, 10 * 86400000)
    median = math.exp(rng.uniform(math.log(8), math.log(200)))
    for _ in range(25):
        t += int(rng.expovariate(1 / (8 * 86400000)))  # mean gap 8 days: windows fill and empty
        k = 1
        r = rng.random()
        if r < 0.08:
            k = rng.randint(2, 4)  # same millisecond
        for _ in range(k):
            if rng.random() < 0.03:
                amount = round(rng.uniform(999999.90, 1000000.00), 2)
            elif rng.random() < 0.02:
                amount = 33.33
            else:
                amount = round(median * math.exp(rng.gauss(0, 0.8)), 2)
            n_id += 1
            rows.append((t, card, f"tx-{n_id:06d}", amount, rng.randrange(1, 60)))
rows.sort(key=lambda r: (r[0], r[1], r[2]))
print("transaction_id,card_id,merchant_id,mcc,amount,currency,event_time,channel,country,lat,lon")
for t, card, tx, amount, m in rows:
    print(f"{tx},{card},m-{m:03d},5411,{amount},EUR,{t},pos,FR,48.85,2.35")
