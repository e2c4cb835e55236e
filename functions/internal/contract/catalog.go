package contract

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Catalog is what the metadata can name in a database: tables and views with their columns,
// and foreign keys.
type Catalog struct {
	// Columns maps a table or view to its columns and their types (as format_type writes them).
	Columns     map[QualifiedTable]map[string]string
	ForeignKeys []ForeignKey
}

// ForeignKey is one foreign key constraint.
type ForeignKey struct {
	Name       string
	Table      QualifiedTable
	Columns    []string
	RefTable   QualifiedTable
	RefColumns []string
}

// Querier is what ReadCatalog needs of a connection or pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const columnsSQL = `
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`

const foreignKeysSQL = `
SELECT con.conname,
       n.nspname, c.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f'
ORDER BY n.nspname, c.relname, con.conname`

// ReadCatalog reads the tables, columns and foreign keys of every user schema of a database.
func ReadCatalog(ctx context.Context, db Querier) (*Catalog, error) {
	cat := &Catalog{Columns: map[QualifiedTable]map[string]string{}}
	rows, err := db.Query(ctx, columnsSQL)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	var t QualifiedTable
	var col, typ string
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &col, &typ}, func() error {
		if cat.Columns[t] == nil {
			cat.Columns[t] = map[string]string{}
		}
		cat.Columns[t][col] = typ
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	rows, err = db.Query(ctx, foreignKeysSQL)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys: %w", err)
	}
	var fk ForeignKey
	_, err = pgx.ForEachRow(rows, []any{&fk.Name, &fk.Table.Schema, &fk.Table.Name, &fk.Columns,
		&fk.RefTable.Schema, &fk.RefTable.Name, &fk.RefColumns}, func() error {
		k := fk
		k.Columns, k.RefColumns = slices.Clone(fk.Columns), slices.Clone(fk.RefColumns)
		cat.ForeignKeys = append(cat.ForeignKeys, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read foreign keys: %w", err)
	}
	return cat, nil
}

// HasColumn says whether table has column.
func (c *Catalog) HasColumn(table QualifiedTable, column string) bool {
	_, ok := c.Columns[table][column]
	return ok
}

// ForeignKey finds the foreign key of table on exactly columns (in order) that references ref.
func (c *Catalog) ForeignKey(table QualifiedTable, columns []string, ref QualifiedTable) (ForeignKey, bool) {
	for _, fk := range c.ForeignKeys {
		if fk.Table == table && fk.RefTable == ref && slices.Equal(fk.Columns, columns) {
			return fk, true
		}
	}
	return ForeignKey{}, false
}

// ForeignKeysOn lists the foreign keys of table on exactly columns, whatever they reference.
func (c *Catalog) ForeignKeysOn(table QualifiedTable, columns []string) []ForeignKey {
	var out []ForeignKey
	for _, fk := range c.ForeignKeys {
		if fk.Table == table && slices.Equal(fk.Columns, columns) {
			out = append(out, fk)
		}
	}
	return out
}
