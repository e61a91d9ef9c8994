// read_parquet.mjs -- reads one Parquet file with two independent readers
// and prints what each saw, as one JSON document on stdout:
//   { "duckdb":    { "rows": [...], "types": {column: DuckDB type},
//                    "metadata": [parquet_metadata() rows],
//                    "schema": [parquet_schema() rows] },
//     "hyparquet": { "rows": [...], "metadata": {num_rows, row_groups} } }
// Values are made JSON-safe the same way for both: BigInt -> number when
// it is a safe integer, else its decimal string; Date -> ISO-8601 string;
// bytes -> {"$bytes": base64}. hydrant's tests (tests/integration/
// test_parquet.py) compare them to the JSON records that were written.
// Usage: node read_parquet.mjs FILE
import { readFileSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

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
const desc = await q(`DESCRIBE SELECT * FROM read_parquet('${esc}')`)
const meta = await q(`SELECT * FROM parquet_metadata('${esc}')`)
const schema = await q(`SELECT * FROM parquet_schema('${esc}')`)
const types = {}
for (const r of desc.getRowObjectsJson()) types[r.column_name] = r.column_type
out.duckdb = { rows: safe(rows.getRowObjectsJS()), types,
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
process.stdout.write(JSON.stringify(out))
