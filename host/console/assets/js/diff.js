// A line diff (longest common subsequence), for comparing workflow versions.

export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  // Too large for the quadratic table: show both in full.
  if (n * m > 4e6) return [...x.map((t) => ['del', t]), ...y.map((t) => ['add', t])];
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push(['same', x[i]]); i += 1; j += 1; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) { out.push(['del', x[i]]); i += 1; }
    else { out.push(['add', y[j]]); j += 1; }
  }
  while (i < n) { out.push(['del', x[i]]); i += 1; }
  while (j < m) { out.push(['add', y[j]]); j += 1; }
  return out;
}
