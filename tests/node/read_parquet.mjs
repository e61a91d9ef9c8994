// read_parquet.mjs -- reads one Parquet file with two independent readers
// and prints what each saw, as one JSON document on stdout:
//   { "duckdb":    { "rows": [...], "json": [to_json(row) text, exact],
//                    "types": {column: DuckDB type},
//                    "metadata": [parquet_metadata() rows],
//                    "schema": [parquet_schema() rows] },
//     "hyparquet": { "rows": [...], "metadata": {num_rows, row_groups},
//                    "pages": [[ [page headers of a column chunk], ... ] per row group] } }
// The page headers are decoded by hyparquet's own Thrift reader, walking
// each column chunk from its first page over total_compressed_size.
// Values are made JSON-safe the same way for both: BigInt -> number when
// it is a safe integer, else its decimal string; Date -> ISO-8601 string;
// bytes -> {"$bytes": base64}. hydrant's tests (tests/integration/
// test_parquet.py) compare them to the JSON records that were written.
// Usage: node read_parquet.mjs FILE
import { readFileSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { parquetHeader } from 'hyparquet/src/column.js'

function safe(v) {
  if (typeof v === 'bigint')
    return (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(-Number.MAX_SAFE_INTEGER))
      ? Number(v) : v.toString()
  if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') }
  if (Array.isArray(v)) return v.map(safe)
  if (v && typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) o[k] = safe(x)
    return o
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  return v
}

const file = process.argv[2]
const out = {}

const inst = await DuckDBInstance.create(':memory:')
const conn = await inst.connect()
const q = (sql) => conn.runAndReadAll(sql)
const esc = file.replace(/'/g, "''")
const rows = await q(`SELECT * FROM read_parquet('${esc}')`)
const jrows = await q(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${esc}') t`)
const desc = await q(`DESCRIBE SELECT * FROM read_parquet('${esc}')`)
const meta = await q(`SELECT * FROM parquet_metadata('${esc}')`)
const schema = await q(`SELECT * FROM parquet_schema('${esc}')`)
const types = {}
for (const r of desc.getRowObjectsJson()) types[r.column_name] = r.column_type
out.duckdb = { rows: safe(rows.getRowObjectsJS()), types,
               json: jrows.getRowObjectsJson().map(r => r.j),
               metadata: meta.getRowObjectsJson(), schema: schema.getRowObjectsJson() }

const buf = readFileSync(file)
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const md = parquetMetadata(ab)
const hrows = await parquetReadObjects({ file: ab, compressors })
out.hyparquet = { rows: safe(hrows), metadata: safe({ num_rows: md.num_rows,
                  row_groups: md.row_groups.map(g => ({ num_rows: g.num_rows,
                  columns: g.columns.map(c => ({ path: c.meta_data.path_in_schema,
                  encodings: c.meta_data.encodings, codec: c.meta_data.codec,
                  statistics: c.meta_data.statistics })) })) }) }
const view = new DataView(ab)
out.hyparquet.pages = md.row_groups.map(g => g.columns.map(c => {
  const m = c.meta_data
  const start = Number(m.dictionary_page_offset ?? m.data_page_offset)
  const end = start + Number(m.total_compressed_size)
  const reader = { view, offset: start }
  const pages = []
  while (reader.offset < end) {
    const h = parquetHeader(reader)
    pages.push(safe({ type: h.type, uncompressed_page_size: h.uncompressed_page_size,
      compressed_page_size: h.compressed_page_size,
      num_values: (h.data_page_header ?? h.data_page_header_v2 ?? h.dictionary_page_header)?.num_values,
      num_rows: h.data_page_header_v2?.num_rows,
      encoding: (h.data_page_header ?? h.data_page_header_v2 ?? h.dictionary_page_header)?.encoding }))
    reader.offset += h.compressed_page_size
  }
  return pages
}))
process.stdout.write(JSON.stringify(out))
