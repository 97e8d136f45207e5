"""Notebooks written for the data-flow tests: cells in order, tasks with hand-written
``import``, ``export`` and ``dep`` as a careful person writes them (every name a task reads comes
from an import, every export is read later). Ordinary cells (no pragma) set the notebook's
variables or read what the job pulled."""

SALES = [
    "import statistics\nregions = ['north', 'south', 'east']\nthreshold = 100",
    "#%import()\nimport statistics\nimport math",
    ("#%task(name=load, import=[regions], export=[rows])\n"
    "rows = []\nfor index, region in enumerate(regions):\n"
    "    rows.append({'region': region, 'amount': 50 * (index + 1)})"),
    ("#%task(name=clean, dep=[load], import=[rows, threshold], export=[kept])\n"
    "kept = [r for r in rows if r['amount'] >= threshold / 2]"),
    ("#%task(name=totals, dep=[clean], import=[kept], export=[by_region])\n"
    "by_region = {}\nfor row in kept:\n"
    "    by_region[row['region']] = by_region.get(row['region'], 0) + row['amount']"),
    ("#%task(name=spread, dep=[clean], import=[kept], export=[deviation])\n"
    "amounts = [row['amount'] for row in kept]\ndeviation = statistics.pstdev(amounts)"),
    ("#%task(name=summary, dep=[totals, spread], import=[by_region, deviation], "
    "export=[report])\n"
    "best = max(by_region, key=by_region.get)\n"
    "report = f'{best}: {by_region[best]} (spread {math.floor(deviation)})'"),
    "print(report)",
]

TEXT = [
    "corpus = ['the cat sat', 'the dog ran', 'a cat ran']\nstop_words = {'the', 'a'}",
    ("#%task(name=tokenize, import=[corpus], export=[tokens])\n"
    "tokens = [sentence.split() for sentence in corpus]"),
    ("#%task(name=filter_words, dep=[tokenize], import=[tokens, stop_words], export=[words])\n"
    "words = [[w for w in sentence if w not in stop_words] for sentence in tokens]"),
    ("#%task(name=vocabulary, dep=[filter_words], import=[words], export=[vocab])\n"
    "vocab = sorted({w for sentence in words for w in sentence})"),
    ("#%task(name=counts, dep=[filter_words, vocabulary], import=[words, vocab], "
    "export=[matrix])\n"
    "matrix = []\nfor sentence in words:\n    matrix.append([sentence.count(w) for w in vocab])"),
    ("#%task(name=frequent, dep=[counts, vocabulary], import=[matrix, vocab], export=[top])\n"
    "def column_total(index):\n    return sum(row[index] for row in matrix)\n"
    "top = max(vocab, key=lambda w: column_total(vocab.index(w)))"),
    "print(top, len(vocab))",
]

MODEL = [
    "samples = 40\nseed = 3\nlearning_rate = 0.1",
    ("#%task(name=make_data, import=[samples, seed], export=[xs, ys])\n"
    "import random\nrandom.seed(seed)\nxs = [random.random() for _ in range(samples)]\n"
    "ys = [2 * x + 1 for x in xs]"),
    ("#%task(name=split_data, dep=[make_data], import=[xs, ys], "
    "export=[train_set, test_set])\n"
    "pairs = list(zip(xs, ys))\ncut = len(pairs) * 3 // 4\n"
    "train_set, test_set = pairs[:cut], pairs[cut:]"),
    ("#%task(name=fit, dep=[split_data], import=[train_set, learning_rate], export=[weights])\n"
    "weights = [0.0, 0.0]\nfor _ in range(200):\n    for x, y in train_set:\n"
    "        error = weights[0] * x + weights[1] - y\n"
    "        weights[0] -= learning_rate * error * x\n"
    "        weights[1] -= learning_rate * error"),
    ("#%task(name=evaluate, dep=[fit, split_data], import=[weights, test_set], export=[mse])\n"
    "errors = [(weights[0] * x + weights[1] - y) ** 2 for x, y in test_set]\n"
    "mse = sum(errors) / len(errors)"),
    ("#%task(name=tune, dep=[fit], import=[weights], export=[history])\n"
    "history = []\nhistory.append(round(weights[0], 1))\nhistory.append(round(weights[1], 1))"),
    ("#%task(name=publish, dep=[evaluate, tune], import=[mse, history], export=[card])\n"
    "card = {'mse': round(mse, 3), 'weights': history}"),
    "print(card)",
]

ETL = [
    ("raw_orders = [('a', 3), ('b', 0), ('a', 5), ('c', 2)]\nprices = {'a': 1.5, 'b': 2.0, "
    "'c': 4.0}"),
    ("#%task(name=extract, import=[raw_orders], export=[orders])\n"
    "orders = [dict(item=i, quantity=q) for i, q in raw_orders if q > 0]"),
    ("#%task(name=enrich, dep=[extract], import=[orders, prices], export=[orders])\n"
    "for order in orders:\n    order['price'] = prices[order['item']]\n"
    "orders.sort(key=lambda o: o['item'])"),
    ("#%task(name=invoice, dep=[enrich], import=[orders], export=[lines])\n"
    "lines = [f\"{o['item']} x{o['quantity']}: {o['quantity'] * o['price']:.2f}\" "
    "for o in orders]"),
    ("#%task(name=revenue, dep=[enrich], import=[orders], export=[total])\n"
    "total = 0.0\nfor order in orders:\n    total += order['quantity'] * order['price']"),
    ("#%task(name=ledger, dep=[invoice, revenue], import=[lines, total], export=[ledger_text])\n"
    "class Ledger:\n    def __init__(self, entries):\n        self.entries = entries\n"
    "    def text(self):\n        return '\\n'.join(self.entries) + f'\\ntotal {total:.2f}'\n"
    "ledger_text = Ledger(lines).text()"),
    "print(ledger_text)",
]

#: every notebook of the corpus, by name
NOTEBOOKS = {"sales": SALES, "text": TEXT, "model": MODEL, "etl": ETL}
