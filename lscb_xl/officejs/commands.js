// lscb-xl function file for the Office.js add-in (served by `lscb-xl serve`).
// Each ribbon button sends the workbook (values, tables, names: the xlwings client payload) to
// the server, which runs the same Python command as desktop Excel, and applies the returned
// actions. Only the actions lscb-xl emits are applied: setValues, rangeClearContents, alert.
"use strict";

const BASE_URL = "{{BASE_URL}}";

function token() {
  // Stored once per user with the "lscb-token" setting (see the README); never in the workbook.
  return (Office.context.roamingSettings && Office.context.roamingSettings.get("lscb-token")) || "";
}

async function buildPayload(context) {
  const wb = context.workbook;
  const sheets = wb.worksheets;
  sheets.load("items/name");
  wb.names.load("items/name,items/type");
  const active = wb.worksheets.getActiveWorksheet();
  active.load("position");
  await context.sync();
  const out = { client: "Office.js", version: "{{VERSION}}", book: { name: "", active_sheet_index: active.position, selection: "A1" }, names: [], sheets: [] };
  const perSheet = sheets.items.map((sheet) => {
    const used = sheet.getUsedRangeOrNullObject(true);
    used.load("address,values,numberFormatCategories,rowIndex,columnIndex");
    const tables = sheet.tables;
    tables.load("items/name,items/showHeaders,items/showTotals,items/style,items/showFilterButton");
    return { sheet, used, tables };
  });
  const nameRanges = wb.names.items.filter((n) => n.type === "Range").map((n) => {
    const r = n.getRange();
    r.load("address,worksheet/position");
    return { n, r };
  });
  await context.sync();
  for (const { n, r } of nameRanges) {
    out.names.push({ name: n.name, sheet_index: r.worksheet.position, address: r.address.split("!").pop(),
      scope_sheet_name: null, scope_sheet_index: null, book_scope: true });
  }
  for (const { sheet, used, tables } of perSheet) {
    let values = [[""]];
    if (!used.isNullObject) {
      // The payload is the used range from A1, as the xlwings clients send it.
      const rows = used.rowIndex + used.values.length;
      const cols = used.columnIndex + (used.values[0] || []).length;
      values = Array.from({ length: rows }, () => Array(cols).fill(""));
      used.values.forEach((row, i) => row.forEach((v, j) => {
        const cat = used.numberFormatCategories[i][j];
        values[used.rowIndex + i][used.columnIndex + j] =
          (cat === "Date" || cat === "Time") && typeof v === "number" ? new Date(Math.round((v - 25569) * 86400000)).toISOString() : v;
      }));
    }
    const tableInfo = [];
    for (const t of tables.items) {
      const rng = t.getRange(); const hdr = t.getHeaderRowRange(); const body = t.getDataBodyRange();
      rng.load("address"); hdr.load("address"); body.load("address");
      tableInfo.push({ t, rng, hdr, body });
    }
    await context.sync();
    out.sheets.push({ name: sheet.name, values, pictures: [], tables: tableInfo.map(({ t, rng, hdr, body }) => ({
      name: t.name, range_address: rng.address.split("!").pop(), header_row_range_address: hdr.address.split("!").pop(),
      data_body_range_address: body.address.split("!").pop(), total_row_range_address: null,
      show_headers: t.showHeaders, show_totals: t.showTotals, table_style: t.style, show_autofilter: t.showFilterButton })) });
  }
  return out;
}

async function applyActions(context, actions) {
  const sheets = context.workbook.worksheets;
  sheets.load("items");
  await context.sync();
  for (const a of actions) {
    const sheet = sheets.items[a.sheet_position];
    const range = sheet.getRangeByIndexes(a.start_row, a.start_column, a.row_count, a.column_count);
    if (a.func === "setValues") { range.values = a.values; }
    else if (a.func === "rangeClearContents") { range.clear("Contents"); }
    else if (a.func === "alert") {
      const text = String(a.args[0]);
      // The summary arrives as a one-time download link: open it in the browser.
      if (text.startsWith(BASE_URL + "/download/")) { Office.context.ui.openBrowserWindow(text); }
      else { console.log(text); }
    }
    else { throw new Error("lscb-xl: unsupported action " + a.func); }
  }
  await context.sync();
}

async function run(command, event) {
  try {
    await Excel.run(async (context) => {
      const payload = await buildPayload(context);
      const response = await fetch(BASE_URL + "/xlwings/" + command, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token() },
        body: JSON.stringify(payload),
      });
      if (!response.ok) { throw new Error(await response.text()); }
      const data = await response.json();
      await applyActions(context, data.actions || []);
    });
  } catch (err) {
    console.error("lscb-xl:", err);
  } finally {
    event.completed();
  }
}

Office.onReady(() => {
  Office.actions.associate("validate", (event) => run("validate", event));
  Office.actions.associate("refresh", (event) => run("refresh", event));
  Office.actions.associate("rag", (event) => run("rag", event));
  Office.actions.associate("summary", (event) => run("summary", event));
});
