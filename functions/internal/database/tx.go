package database

// A transaction that costs no round trip of its own: BEGIN goes to PostgreSQL with the
// transaction's first batch (pgx.Batch.BeginTx), and COMMIT can go with its last write
// (CommitWith). Between them the transaction is an ordinary pgx.Tx. A member's row lock taken
// in the first batch is then held across one round trip to Go and back instead of three.

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool is what InTx runs transactions on: a *pgxpool.Pool.
type Pool interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// lazyTx is a pgx.Tx that sends its BEGIN with its first statement.
type lazyTx struct {
	conn *pgxpool.Conn
	tx   pgx.Tx // nil until BEGIN was sent
	// ended: the transaction is over (committed, or its COMMIT failed); committed: it was
	// committed.
	ended, committed bool
}

var _ pgx.Tx = (*lazyTx)(nil)

// begun returns the transaction, beginning it first if nothing was sent yet.
func (t *lazyTx) begun(ctx context.Context) (pgx.Tx, error) {
	if t.ended {
		return nil, pgx.ErrTxClosed
	}
	if t.tx == nil {
		tx, err := t.conn.Begin(ctx)
		if err != nil {
			return nil, err
		}
		t.tx = tx
	}
	return t.tx, nil
}

// SendBatch sends b; when it is the transaction's first statement, BEGIN goes in front of it
// in the same round trip.
func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.ended {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	if t.tx != nil {
		return t.tx.SendBatch(ctx, b)
	}
	first := &pgx.Batch{}
	first.BeginTx(pgx.TxOptions{})
	first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, first)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil { // BEGIN's own result
		_ = br.Close()
		return pgx.FailedBatchResults(b, err)
	}
	return br
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.Exec(ctx, sql, args...)
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, sql, args...)
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tx, err := t.begun(ctx)
	if err != nil {
		return errRow{err}
	}
	return tx.QueryRow(ctx, sql, args...)
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, columns, src)
}

func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Prepare(ctx, name, sql)
}

// Begin starts a savepoint (a pseudo nested transaction), as pgx.Tx's does.
func (t *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

// LargeObjects begins the transaction if nothing was sent yet; large objects need one.
func (t *lazyTx) LargeObjects() pgx.LargeObjects {
	tx, err := t.begun(context.Background())
	if err != nil {
		return pgx.LargeObjects{}
	}
	return tx.LargeObjects()
}

func (t *lazyTx) Conn() *pgx.Conn { return t.conn.Conn() }

// Commit commits what was sent; a transaction that sent nothing has nothing to commit.
func (t *lazyTx) Commit(ctx context.Context) error {
	if t.ended {
		return pgx.ErrTxClosed
	}
	t.ended = true
	if t.tx != nil {
		if err := t.tx.Commit(ctx); err != nil {
			return err
		}
	}
	t.committed = true
	return nil
}

// Rollback rolls back what was sent, if the transaction is still open.
func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.ended || t.tx == nil {
		return nil
	}
	t.ended = true
	err := t.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// CommitWith sends b and then COMMIT in one round trip, and closes the batch (running its
// callbacks): the statements of b are the transaction's last. When one of them fails, the
// server skips the rest, COMMIT included, and the transaction rolls back as after any error.
//
// Because COMMIT is already on its way, nothing that Go decides from b's answers can undo b:
// a write that must not stand when it loses a race has to fail in SQL (see unless_raced in
// the migrations), not be counted afterwards. A callback of b that fails reports its error,
// but the transaction is committed all the same.
//
// tx must be InTx's; any other pgx.Tx gets b without COMMIT, for its owner to commit.
func CommitWith(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	t, ok := tx.(*lazyTx)
	if !ok {
		return tx.SendBatch(ctx, b).Close()
	}
	b.Queue("commit").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() == "ROLLBACK" { // the transaction had failed before b
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	err := t.SendBatch(ctx, b).Close()
	if t.tx == nil || t.conn.Conn().PgConn().TxStatus() != 'I' {
		return err // not sent, or failed before COMMIT (the server skipped it): roll back
	}
	// Over. A statement of b that failed would have left the transaction failed, not over;
	// so an error from the server here is COMMIT's own, and any other error is a callback's,
	// after the server had committed.
	t.ended = true
	var pgErr *pgconn.PgError
	t.committed = !errors.As(err, &pgErr)
	return err
}

// attempt runs fn once in a new transaction on a connection of db and commits it, or rolls
// it back when fn fails. committed tells whether the transaction was committed (by
// CommitWith inside fn, or here), whatever fn returned.
func attempt(ctx context.Context, db Pool, fn func(pgx.Tx) error) (committed bool, err error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// A connection released inside a transaction (a failed ROLLBACK, a panic) is closed by
	// the pool, not reused.
	defer conn.Release()
	t := &lazyTx{conn: conn}
	defer func() {
		if p := recover(); p != nil {
			_ = t.Rollback(ctx)
			panic(p)
		}
	}()
	if err := fn(t); err != nil {
		_ = t.Rollback(ctx)
		return t.committed, err
	}
	if t.ended {
		if !t.committed {
			return false, errors.New("fn went on after its CommitWith failed")
		}
		return true, nil
	}
	err = t.Commit(ctx)
	return t.committed, err
}
