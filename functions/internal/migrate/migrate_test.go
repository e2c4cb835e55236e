package migrate_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/migrate"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// objectCount counts what a migration can leave behind in the application schema.
const objectCount = `
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_namespace WHERE nspname = 'local_migrate')`

func TestMigrationsApplyOnEmptyDatabaseAndRollBackToEmpty(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if len(migrations) == 0 {
		t.Fatal("no migrations loaded")
	}
	if n := count(t, conn, objectCount); n != 0 {
		t.Fatalf("empty database has %d objects", n)
	}

	applied, err := migrate.Up(ctx, conn, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(migrations) {
		t.Fatalf("applied %d of %d migrations", len(applied), len(migrations))
	}
	for _, table := range []string{"members", "stores", "staff", "tiers", "rewards", "coupons", "orders", "point_transactions", "point_lots", "program_settings"} {
		if n := count(t, conn, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`, table); n != 1 {
			t.Errorf("table %s missing after up", table)
		}
	}
	again, err := migrate.Up(ctx, conn, migrations)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Up applied %v, err %v; want nothing", again, err)
	}
	// Seeds run twice leave one copy of each row.
	for i := 0; i < 2; i++ {
		if err := migrate.Seed(ctx, conn, hasura.Seeds()); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, `SELECT count(*) FROM tiers`); n != 3 {
		t.Errorf("tiers after seeding twice = %d, want 3", n)
	}

	if err := migrate.Down(ctx, conn, migrations); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, objectCount); n != 0 {
		t.Fatalf("%d objects left after down", n)
	}
	if _, err := migrate.Up(ctx, conn, migrations); err != nil {
		t.Fatalf("up after down: %v", err)
	}
}

func TestLoadRejectsMalformedTrees(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"a directory without a version": {"init/up.sql": {}, "init/down.sql": {}},
		"a migration without down.sql":  {"1_init/up.sql": {}},
		"two migrations with one version": {
			"1_a/up.sql": {}, "1_a/down.sql": {}, "01_b/up.sql": {}, "01_b/down.sql": {},
		},
	}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := migrate.Load(fsys); err == nil {
				t.Fatal("Load accepted it")
			}
		})
	}
}

func TestLoadOrdersByVersionNotByName(t *testing.T) {
	fsys := fstest.MapFS{
		"20_b/up.sql": {}, "20_b/down.sql": {},
		"3_a/up.sql": {}, "3_a/down.sql": {},
	}
	ms, err := migrate.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Version != 3 || ms[1].Version != 20 {
		t.Fatalf("order = %d, %d; want 3, 20", ms[0].Version, ms[1].Version)
	}
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The engine's role gets a 10 s statement_timeout in the application database only (issue 14:
// a runaway GraphQL query is cut off); another database of the same role keeps the default,
// and down takes it away again.
func TestTheMigratingRoleGetsAStatementTimeoutInThisDatabaseOnly(t *testing.T) {
	ctx := context.Background()
	url, other := pgtest.EmptyURL(t), pgtest.EmptyURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn, migrations); err != nil {
		t.Fatal(err)
	}
	if got := timeoutOfNewSession(t, url); got != "10s" {
		t.Errorf("statement_timeout of a new session after up = %q, want 10s", got)
	}
	if got := timeoutOfNewSession(t, other); got != "0" {
		t.Errorf("statement_timeout in another database = %q, want the default 0", got)
	}
	if err := migrate.Down(ctx, conn, migrations); err != nil {
		t.Fatal(err)
	}
	if got := timeoutOfNewSession(t, url); got != "0" {
		t.Errorf("statement_timeout after down = %q, want the default 0", got)
	}
}

// timeoutOfNewSession is what a fresh connection to url starts with: role settings apply at
// connect time only.
func timeoutOfNewSession(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, `SHOW statement_timeout`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The referral code backfill of 1764202100000_campaigns_referrals_reminders gives every
// existing member a code, and a drawn code that another member already holds is drawn again.
// A code space of 30^8 makes a collision likely only from about a million members; here the
// generator's random() is shadowed for the migration's session by one that returns two values,
// so the space is 2^8 = 256 codes for 100 members, and the first draws collide for certain
// (the chance that 100 draws out of 256 are all distinct is below 1e-8).
func TestTheReferralCodeBackfillDrawsAgainWhenACodeIsTaken(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	migrations, err := migrate.Load(hasura.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	const version = 1764202100000
	i := slices.IndexFunc(migrations, func(m migrate.Migration) bool { return m.Version == version })
	if i < 0 {
		t.Fatalf("no migration %d", version)
	}
	if _, err := migrate.Up(ctx, conn, migrations[:i]); err != nil {
		t.Fatal(err)
	}
	const members = 100
	if _, err := conn.Exec(ctx, `
		INSERT INTO tiers (id, name, rank, min_points, earn_multiplier_pct) VALUES ('member', 'Member', 0, 0, 100);
		INSERT INTO members (id, member_code, display_name)
		SELECT gen_random_uuid(), lpad(i::text, 10, '0'), 'member ' || i FROM generate_series(1, `+strconv.Itoa(members)+`) i`); err != nil {
		t.Fatal(err)
	}
	// pg_catalog is named in the path after the shadowing schema, so the unqualified random()
	// of new_referral_code() is collide.random() for this session; it counts its calls.
	if _, err := conn.Exec(ctx, `
		CREATE SCHEMA collide;
		CREATE SEQUENCE collide.draws;
		CREATE FUNCTION collide.random() RETURNS double precision LANGUAGE sql VOLATILE AS
			'SELECT CASE WHEN pg_catalog.nextval(''collide.draws'') >= 0 AND pg_catalog.random() < 0.5 THEN 0.0 ELSE 0.5 END::double precision';
		SET search_path = collide, pg_catalog, public`); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn, migrations[:i+1]); err != nil {
		t.Fatalf("the backfill with colliding codes: %v", err)
	}
	var draws int64
	if err := conn.QueryRow(ctx, `SELECT last_value FROM collide.draws`).Scan(&draws); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `RESET search_path; DROP SCHEMA collide CASCADE`); err != nil {
		t.Fatal(err)
	}
	if draws <= 8*members {
		t.Fatalf("%d characters drawn for %d members: no code was drawn again, the test proves nothing", draws, members)
	}
	if n := count(t, conn, `SELECT count(DISTINCT referral_code) FROM members WHERE referral_code ~ '^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$'`); n != members {
		t.Fatalf("%d distinct well-formed referral codes for %d members", n, members)
	}
	if _, err := migrate.Up(ctx, conn, migrations); err != nil {
		t.Fatalf("the migrations after it: %v", err)
	}
}
