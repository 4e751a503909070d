// The dashboard's page script (metanas.dashboard._pages): draws the figures of the payload,
// the sortable and filterable trial table and the chosen trial's architecture; on the
// dashboard it polls the study's version and reloads the data when it changes.
function start(){
const P = JSON.parse(document.getElementById('payload').textContent);
const cfg = {responsive: true, displaylogo: false};
function el(tag, text, cls){const e=document.createElement(tag); if(text!==undefined&&text!==null)e.textContent=String(text); if(cls)e.className=cls; return e;}
function drawFigures(figs){
  const box = document.getElementById('figures'); if(!box) return;
  box.replaceChildren(); const divs = [];
  // Every card first, then the plots: plotly sizes a plot by its card once the grid is final.
  for(const [key, fig] of figs){
    const card = el('div', null, 'card'); const div = el('div', null, 'plot'); div.dataset.figure = key;
    card.appendChild(div); box.appendChild(card); divs.push([div, fig]);
  }
  for(const [div, fig] of divs) Plotly.newPlot(div, fig.data, fig.layout, cfg);
}
let rows = [], sortCol = null, sortDir = 1, selected = null;
function buildRows(table){
  const cols = table.columns, n = table.rows[cols[0]].length; rows = [];
  for(let i=0;i<n;i++){ const r = {}; for(const c of cols) r[c]=table.rows[c][i]; rows.push(r); }
}
function fmt(v){ if(v===null||v===undefined) return ''; if(typeof v==='number') return Number.isInteger(v)?String(v):v.toPrecision(5); return String(v); }
function drawTable(){
  const t = P.table; if(!t) return;
  const head = document.getElementById('thead'), body = document.getElementById('tbody');
  const q = (document.getElementById('filter').value||'').toLowerCase();
  head.replaceChildren(); const tr = el('tr');
  for(const c of t.columns){ const th = el('th', c + (sortCol===c?(sortDir>0?' \u25B2':' \u25BC'):''));
    th.addEventListener('click', ()=>{ sortDir = sortCol===c ? -sortDir : 1; sortCol=c; drawTable(); }); tr.appendChild(th); }
  head.appendChild(tr);
  let shown = q ? rows.filter(r=>t.columns.some(c=>fmt(r[c]).toLowerCase().includes(q))) : rows.slice();
  if(sortCol!==null){ shown.sort((a,b)=>{ const x=a[sortCol], y=b[sortCol];
    if(x===y) return 0; if(x===null) return 1; if(y===null) return -1; return (x<y?-1:1)*sortDir; }); }
  const limit = 300; body.replaceChildren();
  for(const r of shown.slice(0, limit)){
    const row = el('tr'); if(r.number===selected) row.className='sel';
    for(const c of t.columns) row.appendChild(el('td', fmt(r[c])));
    row.addEventListener('click', ()=>{ selected=r.number; showArch(r.number); drawTable(); }); body.appendChild(row);
  }
  document.getElementById('count').textContent = 'showing ' + Math.min(limit, shown.length) + ' of ' + shown.length + ' matching trials (' + rows.length + ' in all)' + (P.table_note ? '; ' + P.table_note : '');
}
async function showArch(number){
  const box = document.getElementById('arch'); const title = document.getElementById('arch-title');
  title.textContent = 'Architecture of trial ' + number;
  let svg = (P.svgs||{})[number];
  if(svg===undefined && P.api){
    const res = await fetch(P.api + 'arch?name=' + encodeURIComponent(P.name) + '&trial=' + number);
    if(res.ok) svg = (await res.json()).svg;
  }
  // svg is made by metanas.dashboard._svg, which escapes every text it draws.
  if(svg){ box.innerHTML = svg; } else { box.textContent = 'Not in this report: open the dashboard to draw trial ' + number + '.'; }
}
async function loadImportance(){
  if(P.importance_inline || !P.api || !P.name) return;
  const res = await fetch(P.api + 'importance?name=' + encodeURIComponent(P.name));
  if(!res.ok) return; const fig = (await res.json()).figure; if(!fig) return;
  const card = el('div', null, 'card'); const div = el('div'); div.className='plot'; div.dataset.figure='importance';
  card.appendChild(div); document.getElementById('figures').appendChild(card); Plotly.newPlot(div, fig.data, fig.layout, cfg);
}
function render(){
  drawFigures(P.figures || []);
  if(P.table){ buildRows(P.table); drawTable(); if(P.best!==null&&P.best!==undefined){ selected=P.best; showArch(P.best); } }
}
const f = document.getElementById('filter'); if(f) f.addEventListener('input', drawTable);
render(); loadImportance();
if(P.api && P.name && P.poll_s){
  setInterval(async ()=>{
    const res = await fetch(P.api + 'version?name=' + encodeURIComponent(P.name));
    if(!res.ok) return; const v = (await res.json()).version;
    if(v !== P.version){ const d = await fetch(P.api + 'data?name=' + encodeURIComponent(P.name));
      if(d.ok){ Object.assign(P, await d.json()); render(); loadImportance(); } }
  }, P.poll_s * 1000);
}
}
// A report unpacks plotly.js first (compressed inline) and says so with 'plotly-ready'.
if(window.Plotly) start(); else window.addEventListener('plotly-ready', start, {once: true});
