package contract_test

// These tests break one thing at a time, in a copy of the metadata, the route table or a
// migrated database, and show that the contract test reports it. A check that never fails
// guards nothing.

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/contract"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	project "github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

// expectReported fails unless one problem of got, not already in before, mentions every
// string of want.
func expectReported(t *testing.T, before, got []contract.Problem, want ...string) {
	t.Helper()
	for _, p := range got {
		if slices.Contains(before, p) {
			continue
		}
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(p.String(), w) }) {
			t.Logf("reported: %s", p)
			return
		}
	}
	var lines []string
	for _, p := range got {
		lines = append(lines, "  "+p.String())
	}
	t.Errorf("no new problem mentions %q; problems:\n%s", want, strings.Join(lines, "\n"))
}

func TestARenamedOrDroppedDatabaseObjectIsReported(t *testing.T) {
	m := loadMetadata(t)
	for _, tc := range []struct {
		name string
		sql  string
		want []string
	}{
		{"a column a permission lists was renamed",
			`ALTER TABLE members RENAME COLUMN display_name TO nickname`,
			[]string{"table public.members", "permission of role member", "display_name"}},
		{"a column a filter compares was renamed",
			`ALTER TABLE stores RENAME COLUMN active TO is_open`,
			[]string{"table public.stores", "select permission of role anonymous, filter", "names active"}},
		{"a column behind a relationship in a filter was renamed",
			`ALTER TABLE staff RENAME COLUMN user_id TO cognito_sub`,
			[]string{"table public.orders", "role staff", "filter > store > staff", "user_id"}},
		{"a column an event trigger watches was renamed",
			`ALTER TABLE orders RENAME COLUMN refunded_amount TO refunded`,
			[]string{"event trigger order_refunded", "refunded_amount"}},
		{"a column a relationship uses was renamed",
			`ALTER TABLE coupons RENAME COLUMN used_store_id TO store_id`,
			[]string{"object relationship used_store", "used_store_id"}},
		{"the foreign key under a relationship was dropped",
			`ALTER TABLE staff DROP CONSTRAINT staff_store_id_fkey`,
			[]string{"table public.staff, object relationship store", "no foreign key"}},
		{"the foreign key under an array relationship was dropped",
			`ALTER TABLE point_lots DROP CONSTRAINT point_lots_member_id_fkey`,
			[]string{"table public.members, array relationship point_lots", "no foreign key of public.point_lots on (member_id) references public.members"}},
		{"a tracked table was renamed",
			`ALTER TABLE point_lots RENAME TO lots`,
			[]string{"table public.point_lots", "does not exist in the database"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.Pool(t)
			before := contract.CheckDatabase(m, readCatalog(t, pool))
			if _, err := pool.Exec(context.Background(), tc.sql); err != nil {
				t.Fatal(err)
			}
			expectReported(t, before, contract.CheckDatabase(m, readCatalog(t, pool)), tc.want...)
		})
	}
}

func TestANewTableLeftOutOfTheMetadataIsReported(t *testing.T) {
	pool := pgtest.Pool(t)
	m := loadMetadata(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE public.stamp_cards (id uuid PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	cat := readCatalog(t, pool)
	expectReported(t, nil, contract.CheckTracked(m, cat, "public", nil), "public.stamp_cards", "not tracked")
	if ps := contract.CheckTracked(m, cat, "public", []string{"stamp_cards"}); len(ps) != 0 {
		t.Errorf("a table listed as deliberately untracked is still reported: %v", ps)
	}
}

func TestAPermissionLiteralPostgresCannotReadIsReported(t *testing.T) {
	pool := pgtest.Pool(t)
	fsys := editedMetadata(t, "databases/default/tables/public_stores.yaml",
		replaceFirst("active:\n          _eq: true", "active:\n          _eq: maybe"))
	m, err := contract.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	cat := readCatalog(t, pool)
	ps := contract.CheckLiterals(context.Background(), pool, contract.Literals(m, cat))
	expectReported(t, nil, ps, "table public.stores", "active (boolean)", `"maybe"`)
}

func TestARouteTableThatDisagreesWithTheMetadataIsReported(t *testing.T) {
	m := loadMetadata(t)
	for _, tc := range []struct {
		name string
		edit func([]routes.Route) []routes.Route
		want []string
	}{
		{"an action lost its handler",
			func(rs []routes.Route) []routes.Route {
				return slices.DeleteFunc(rs, func(r routes.Route) bool { return r.Name == "earnPoints" })
			},
			[]string{"action earnPoints", "has no route"}},
		{"a cron trigger lost its handler",
			func(rs []routes.Route) []routes.Route {
				return slices.DeleteFunc(rs, func(r routes.Route) bool { return r.Name == "tier_review" })
			},
			[]string{"cron trigger tier_review", "has no route"}},
		{"an event trigger is served by a route of another kind",
			func(rs []routes.Route) []routes.Route {
				i := slices.IndexFunc(rs, func(r routes.Route) bool { return r.Name == "order_paid" })
				rs[i].Kind = routes.CronTrigger
				return rs
			},
			[]string{"event trigger order_paid", "kind cron_trigger"}},
		{"a route has no declaration",
			func(rs []routes.Route) []routes.Route {
				return append(rs, routes.Route{Name: "awardStamps", Kind: routes.Action})
			},
			[]string{"route awardStamps", "no declaration"}},
		{"a route is in the table twice",
			func(rs []routes.Route) []routes.Route { return append(rs, rs[0]) },
			[]string{"route " + routeTable()[0].Name, "twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := contract.CheckRoutes(m, routeTable())
			expectReported(t, before, contract.CheckRoutes(m, tc.edit(routeTable())), tc.want...)
		})
	}
}

func TestActionTypesThatDisagreeWithTheGoTypesAreReported(t *testing.T) {
	check := func(m *contract.Metadata) []contract.Problem {
		return slices.Concat(contract.CheckActionTypes(m, routeTable(), goScalars), contract.CheckActionsSDL(m))
	}
	for _, tc := range []struct {
		name string
		edit func(string) (string, error)
		want []string
	}{
		{"an output field is misspelt",
			replaceInBlock("type EarnPointsOutput {", "pointsBalance: Int!", "pointBalance: Int!"),
			[]string{"action earnPoints", "EarnPointsOutput.pointBalance", "no field with json name"}},
		{"an input field is misspelt",
			replaceInBlock("input UseCouponInput {", "couponCode: String!", "code: String!"),
			[]string{"action useCoupon", "UseCouponInput.code"}},
		{"an output field is missing from GraphQL",
			replaceInBlock("type MemberCardOutput {", "  qrToken: String!\n", ""),
			[]string{"action memberCard", "QRToken", `"qrToken"`, "not a field of output MemberCardOutput"}},
		{"a field only GraphQL has",
			replaceInBlock("type DeleteMyAccountOutput {", "deleted: Boolean!", "deleted: Boolean!\n  deletedAt: timestamptz"),
			[]string{"action deleteMyAccount", "DeleteMyAccountOutput.deletedAt"}},
		{"a Go pointer is declared non-null",
			replaceInBlock("type RefundOrderOutput {", "transactionId: uuid\n", "transactionId: uuid!\n"),
			[]string{"action refundOrder", "RefundOrderOutput.transactionId is non-null", "pointer"}},
		{"a Go non-pointer output is declared nullable",
			replaceInBlock("type EarnPointsOutput {", "duplicate: Boolean!", "duplicate: Boolean"),
			[]string{"action earnPoints", "EarnPointsOutput.duplicate is nullable", "never null"}},
		{"an optional input is declared required",
			replaceInBlock("input RegisterMemberInput {", "email: String\n", "email: String!\n"),
			[]string{"action registerMember", "RegisterMemberInput.email is non-null"}},
		{"a required input is declared optional",
			replaceInBlock("input EarnPointsInput {", "storeId: uuid!", "storeId: uuid"),
			[]string{"action earnPoints", "EarnPointsInput.storeId is optional"}},
		{"an integer is declared a string",
			replaceInBlock("type EarnPointsOutput {", "pointsEarned: Int!", "pointsEarned: String!"),
			[]string{"action earnPoints", "EarnPointsOutput.pointsEarned", "is String"}},
		{"a timestamp is declared a date",
			replaceInBlock("type RedeemRewardOutput {", "expiresAt: timestamptz!", "expiresAt: date!"),
			[]string{"action redeemReward", "RedeemRewardOutput.expiresAt", "is date", "timestamptz"}},
		{"a date is declared a timestamp",
			replaceInBlock("input RegisterMemberInput {", "birthday: date", "birthday: timestamptz"),
			[]string{"action registerMember", "RegisterMemberInput.birthday", "is timestamptz", "loyalty.Date"}},
		{"the argument has another name",
			replaceInBlock("adjustPoints(", "input: AdjustPointsInput!", "args: AdjustPointsInput!"),
			[]string{"action adjustPoints", "exactly one argument, input"}},
		{"the argument type does not exist",
			replaceInBlock("earnPoints(", "input: EarnPointsInput!", "input: EarnPointInput!"),
			[]string{"action earnPoints", "EarnPointInput is neither defined"}},
		{"an action without arguments takes one",
			replaceInBlock("type Query {", "memberCard:", "memberCard(input: RedeemRewardInput!):"),
			[]string{"action memberCard", "route decodes none"}},
		{"a query becomes a mutation",
			replaceInBlock("type Query {", "type Query {", "type Mutation {"),
			[]string{"action memberCard", "kind is \"\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := check(loadMetadata(t))
			m, err := contract.Load(editedMetadata(t, "actions.graphql", tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			expectReported(t, before, check(m), tc.want...)
		})
	}
}

func TestMetadataThatBreaksTheContractIsReported(t *testing.T) {
	cat := readCatalog(t, pgtest.Pool(t))
	var (
		wiring  = contract.CheckWiring
		roles   = func(m *contract.Metadata) []contract.Problem { return contract.CheckActionsFollowProduct(m, product) }
		perms   = func(m *contract.Metadata) []contract.Problem { return contract.CheckPolicy(m, policy) }
		db      = func(m *contract.Metadata) []contract.Problem { return contract.CheckDatabase(m, cat) }
		routing = func(m *contract.Metadata) []contract.Problem { return contract.CheckRoutes(m, routeTable()) }
		layout  = func(m *contract.Metadata) []contract.Problem { return contract.CheckLayout(project.Metadata(), m) }
		cycles  = func(m *contract.Metadata) []contract.Problem {
			return contract.CheckRelationshipCycles(m, cat, boundedCycles)
		}
	)
	const members = "databases/default/tables/public_members.yaml"
	const campaigns = "databases/default/tables/public_campaigns.yaml"
	for _, tc := range []struct {
		name  string
		file  string
		edit  func(string) (string, error)
		check func(*contract.Metadata) []contract.Problem
		want  []string
	}{
		{"an action handler URL is hard-coded", "actions.yaml",
			replaceFirst("'{{FUNCTIONS_BASE_URL}}/useCoupon'", "http://functions.default.svc.cluster.local/useCoupon"),
			wiring, []string{"action useCoupon", "handler is", "{{FUNCTIONS_BASE_URL}}/useCoupon"}},
		{"an action handler points at another action", "actions.yaml",
			replaceFirst("'{{FUNCTIONS_BASE_URL}}/useCoupon'", "'{{FUNCTIONS_BASE_URL}}/earnPoints'"),
			wiring, []string{"action useCoupon", "handler is"}},
		{"an action forwards client headers", "actions.yaml",
			replaceAfter("name: redeemReward", "forward_client_headers: false", "forward_client_headers: true"),
			wiring, []string{"action redeemReward", "forward_client_headers is true"}},
		{"an action sends a literal secret", "actions.yaml",
			replaceAfter("name: earnPoints", "value_from_env: ACTION_SECRET", "value: s3cr3t"),
			wiring, []string{"action earnPoints", "literal value"}},
		{"an action sends no secret", "actions.yaml",
			replaceAfter("name: memberCard", "      headers:\n        - name: X-Action-Secret\n          value_from_env: ACTION_SECRET\n", ""),
			wiring, []string{"action memberCard", "exactly once, sends it 0 times"}},
		{"a cron trigger takes the secret from another env var", "cron_triggers.yaml",
			replaceAfter("name: expire_coupons", "value_from_env: ACTION_SECRET", "value_from_env: CRON_SECRET"),
			wiring, []string{"cron trigger expire_coupons", `"CRON_SECRET"`, "ACTION_SECRET"}},
		{"a cron trigger is left out of the metadata", "cron_triggers.yaml",
			replaceAfter("name: birthday_bonus", "include_in_metadata: true", "include_in_metadata: false"),
			wiring, []string{"cron trigger birthday_bonus", "include_in_metadata is false"}},
		{"a cron trigger never retries", "cron_triggers.yaml",
			replaceAfter("name: tier_review", "num_retries: 6", "num_retries: 0"),
			wiring, []string{"cron trigger tier_review", "num_retries"}},
		{"an event trigger webhook comes from an env var", "databases/default/tables/public_orders.yaml",
			replaceFirst("webhook: '{{FUNCTIONS_BASE_URL}}/order_paid'", "webhook_from_env: ORDER_PAID_URL"),
			wiring, []string{"event trigger order_paid", "webhook_from_env ORDER_PAID_URL"}},
		{"an event trigger is renamed without its route", members,
			replaceFirst("name: member_welcome", "name: welcome_member"),
			routing, []string{"event trigger welcome_member", "has no route"}},
		{"the database URL is committed", "databases/databases.yaml",
			replaceFirst("database_url:\n        from_env: PG_DATABASE_URL", "database_url: postgres://hasura:pw@db/loyalty"),
			wiring, []string{"database default", "from_env"}},
		{"a member is given an action only staff may call", "actions.yaml",
			replaceAfter("name: earnPoints", "      - role: staff\n", "      - role: staff\n      - role: member\n"),
			roles, []string{"action earnPoints", "role member must not have"}},
		{"staff lose an action the product gives them", "actions.yaml",
			replaceAfter("name: refundOrder", "    permissions:\n      - role: staff\n", ""),
			roles, []string{"action refundOrder", "role staff must have"}},
		{"admin is listed on an action", "actions.yaml",
			replaceAfter("name: useCoupon", "      - role: staff\n", "      - role: staff\n      - role: admin\n"),
			roles, []string{"action useCoupon", "admin"}},
		{"a member may update their points balance", members,
			replaceAfter("update_permissions:", "        - phone\n", "        - phone\n        - points_balance\n"),
			perms, []string{"table public.members, update permission of role member", "points_balance"}},
		{"a member may insert ledger entries", "databases/default/tables/public_point_transactions.yaml",
			appendText("insert_permissions:\n  - role: member\n    permission:\n      check:\n        member_id:\n          _eq: X-Hasura-User-Id\n      columns:\n        - points\n"),
			perms, []string{"table public.point_transactions, insert permission of role member", "only the functions"}},
		{"a member reads every member's ledger", "databases/default/tables/public_point_transactions.yaml",
			replaceFirst("member_id:\n          _eq: X-Hasura-User-Id", "member_id:\n          _is_null: false"),
			perms, []string{"table public.point_transactions, select permission of role member", "caller's own"}},
		{"anonymous reads orders", "databases/default/tables/public_orders.yaml",
			replaceFirst("select_permissions:\n", "select_permissions:\n  - role: anonymous\n    permission:\n      columns:\n        - id\n      filter: {}\n      limit: 10\n"),
			perms, []string{"table public.orders, select permission of role anonymous", "must not read orders"}},
		{"the ledger is listed without a limit", "databases/default/tables/public_point_lots.yaml",
			replaceFirst("      limit: 200\n", ""),
			perms, []string{"table public.point_lots, select permission of role member", "needs a limit"}},
		{"a filter uses a session variable the tokens lack", "databases/default/tables/public_staff.yaml",
			replaceFirst("_eq: X-Hasura-User-Id", "_eq: X-Hasura-Store-Id"),
			perms, []string{"table public.staff", "X-Hasura-Store-Id"}},
		{"a role the product does not have", "databases/default/tables/public_tiers.yaml",
			replaceFirst("- role: staff", "- role: crew"),
			perms, []string{"table public.tiers, select permission of role crew", "not a role of the product"}},
		{"a relationship uses a column without a foreign key", "databases/default/tables/public_staff.yaml",
			replaceFirst("foreign_key_constraint_on: store_id", "foreign_key_constraint_on: user_id"),
			db, []string{"table public.staff, object relationship store", "no foreign key of public.staff is on (user_id)"}},
		{"an array relationship uses a foreign key to another table", members,
			replaceAfter("- name: point_transactions", "column: member_id", "column: coupon_id"),
			db, []string{"table public.members, array relationship point_transactions", "no foreign key of public.point_transactions on (coupon_id) references public.members"}},
		{"an array relationship names a remote table without its column", members,
			replaceAfter("- name: coupons", "          name: coupons\n", "          name: stores\n"),
			db, []string{"table public.members, array relationship coupons", "member_id, which public.stores does not have"}},
		{"a filter follows a relationship that does not exist", "databases/default/tables/public_orders.yaml",
			replaceAfter("- role: staff", "store:\n", "shop:\n"),
			db, []string{"table public.orders, select permission of role staff", "names shop"}},
		{"a permission lists a column twice", "databases/default/tables/public_tiers.yaml",
			replaceFirst("        - rank\n", "        - rank\n        - rank\n"),
			db, []string{"table public.tiers", "lists column rank twice"}},
		{"an event trigger fires on an update of no column", "databases/default/tables/public_orders.yaml",
			replaceFirst("      update:\n        columns:\n          - member_id\n          - status\n", "      update:\n        columns: []\n"),
			db, []string{"event trigger order_paid", "update lists no columns"}},
		{"anonymous sees campaigns that have ended", campaigns,
			replaceAfter("- role: anonymous", "          - ends_at:\n              _gt: now()\n", ""),
			perms, []string{"table public.campaigns, select permission of role anonymous", `{"ends_at":{"_gt":"now()"}}`}},
		{"members see inactive campaigns", campaigns,
			replaceAfter("- role: member", "          - active:\n              _eq: true\n", ""),
			perms, []string{"table public.campaigns, select permission of role member", `{"active":{"_eq":true}}`}},
		{"a campaign filter that only looks alike", campaigns,
			replaceAfter("- role: staff", "_gt: now()", "_gte: now()"),
			perms, []string{"table public.campaigns, select permission of role staff", `{"ends_at":{"_gt":"now()"}}`}},
		{"staff cannot read campaigns", campaigns,
			replaceFirst("  - role: staff\n", "  - role: nobody_staff\n"),
			perms, []string{"table public.campaigns", "role staff must read campaigns"}},
		{"a member reads who referred them", members,
			replaceAfter("- role: member", "        - referral_code\n", "        - referral_code\n        - referred_by\n"),
			perms, []string{"table public.members, select permission of role member", "referred_by", "only admin"}},
		{"staff read who referred a member", members,
			replaceAfter("- role: staff", "        - member_code\n", "        - member_code\n        - referred_by\n"),
			perms, []string{"table public.members, select permission of role staff", "referred_by", "only admin"}},
		{"a member cannot read their referral code", members,
			replaceAfter("- role: member", "        - referral_code\n", ""),
			perms, []string{"table public.members, select permission of role member", "must read column referral_code"}},
		{"anonymous cannot read what a referral earns", "databases/default/tables/public_program_settings.yaml",
			replaceAfter("- role: anonymous", "        - referral_bonus_points\n", ""),
			perms, []string{"table public.program_settings, select permission of role anonymous", "must read column referral_bonus_points"}},
		{"the ledger leads back to its member", "databases/default/tables/public_point_transactions.yaml",
			replaceFirst("object_relationships:\n", "object_relationships:\n  - name: member\n    using:\n      foreign_key_constraint_on: member_id\n"),
			cycles, []string{"role member", "members.point_transactions -> point_transactions.member"}},
		{"a coupon leads back to its reward", "databases/default/tables/public_coupons.yaml",
			replaceFirst("object_relationships:\n", "object_relationships:\n  - name: reward_again\n    using:\n      foreign_key_constraint_on: reward_id\n"),
			cycles, []string{"coupons.reward_again -> rewards.coupons"}},
		{"a member reads which crew member credited them", "databases/default/tables/public_point_transactions.yaml",
			replaceAfter("- role: member", "        - balance_after\n", "        - balance_after\n        - created_by\n"),
			perms, []string{"table public.point_transactions, select permission of role member", "created_by", "only admin"}},
		{"a member reads who took their coupon", "databases/default/tables/public_coupons.yaml",
			replaceAfter("- role: member", "        - used_at\n", "        - used_at\n        - used_by\n"),
			perms, []string{"table public.coupons, select permission of role member", "used_by", "only admin"}},
		{"a table file is not included", "databases/default/tables/tables.yaml",
			replaceFirst("- \"!include public_tiers.yaml\"\n", ""),
			layout, []string{"databases/default/tables/public_tiers.yaml", "not included"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.check(loadMetadata(t))
			m, err := contract.Load(editedMetadata(t, tc.file, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			expectReported(t, before, tc.check(m), tc.want...)
		})
	}
}

func TestMetadataHasuraWouldNotLoadIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		edit func(string) (string, error)
		want string
	}{
		{"a misspelt key", "databases/default/tables/public_orders.yaml",
			replaceFirst("retry_conf:", "retry_config:"), `unknown field "retry_config"`},
		{"a key at the wrong level", "cron_triggers.yaml",
			replaceFirst("    tolerance_seconds: 21600\n", "  tolerance_seconds: 21600\n"), `unknown field "tolerance_seconds"`},
		{"an include of a missing file", "databases/default/tables/tables.yaml",
			replaceFirst("public_tiers.yaml", "public_tier.yaml"), "public_tier.yaml"},
		{"YAML that does not parse", "actions.yaml",
			replaceFirst(`comment: "Crew mark a coupon used at their store."`, "comment: Crew: mark a coupon used"), "actions.yaml"},
		{"a duplicate key", "databases/default/tables/public_staff.yaml",
			replaceFirst("  name: staff\n", "  name: staff\n  name: staff\n"), "public_staff.yaml"},
		{"GraphQL that does not parse", "actions.graphql",
			replaceFirst("type UseCouponOutput {", "type UseCouponOutput"), "actions.graphql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := contract.Load(editedMetadata(t, tc.file, tc.edit))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// editedMetadata is a copy of hasura/metadata with one file changed by edit.
func editedMetadata(t *testing.T, name string, edit func(string) (string, error)) fs.FS {
	t.Helper()
	src := project.Metadata()
	out := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := out[name]
	if !ok {
		t.Fatalf("no file %s in hasura/metadata", name)
	}
	edited, err := edit(string(f.Data))
	if err != nil {
		t.Fatalf("edit %s: %v (has the file changed? update the test's anchor)", name, err)
	}
	out[name] = &fstest.MapFile{Data: []byte(edited)}
	return out
}

// replaceFirst replaces the first old with new.
func replaceFirst(old, new string) func(string) (string, error) {
	return replaceAfter("", old, new)
}

// replaceAfter replaces the first old that follows anchor.
func replaceAfter(anchor, old, new string) func(string) (string, error) {
	return func(s string) (string, error) {
		i := strings.Index(s, anchor)
		if i < 0 {
			return "", fmt.Errorf("no %q", anchor)
		}
		j := strings.Index(s[i:], old)
		if j < 0 {
			return "", fmt.Errorf("no %q after %q", old, anchor)
		}
		return s[:i+j] + new + s[i+j+len(old):], nil
	}
}

// replaceInBlock replaces old within the GraphQL block that opens with header.
func replaceInBlock(header, old, new string) func(string) (string, error) {
	return func(s string) (string, error) {
		i := strings.Index(s, header)
		if i < 0 {
			return "", fmt.Errorf("no %q", header)
		}
		end := i + strings.Index(s[i:], "}")
		j := strings.Index(s[i:end], old)
		if j < 0 {
			return "", fmt.Errorf("no %q in the block %q", old, header)
		}
		return s[:i+j] + new + s[i+j+len(old):], nil
	}
}

// appendText adds text at the end of the file.
func appendText(text string) func(string) (string, error) {
	return func(s string) (string, error) { return s + text, nil }
}

func TestAnAllowListedOperationItsRoleCannotRunIsReported(t *testing.T) {
	cat := readCatalog(t, pgtest.Pool(t))
	const (
		collections = "query_collections.yaml"
		allowList   = "allow_list.yaml"
	)
	for _, tc := range []struct {
		name string
		file string
		edit func(string) (string, error)
		want []string
	}{
		{"an unknown column", collections,
			replaceAfter("query MemberProfile", "referral_code\n", "referral_codes\n"),
			[]string{"operation MemberProfile, role member", "members.referral_codes", "no column of public.members"}},
		{"a column the role may not select", collections,
			replaceAfter("query StoreOrders", "member_id\n", "created_at\n"),
			[]string{"operation StoreOrders, role staff", "created_at is no column of public.orders"}},
		{"a dropped relationship", collections,
			replaceAfter("query MyCoupons", "used_store {", "reward {"),
			[]string{"operation MyCoupons, role member", "reward is no relationship of public.coupons"}},
		{"a relationship to a table the role may not select", collections,
			replaceAfter("query Stores", "timezone\n", "timezone\n              staff {\n                role\n              }\n"),
			[]string{"operation Stores, role anonymous", "leads to public.staff, which the role may not select"}},
		{"a filter on a column the role may not select", collections,
			replaceAfter("query ExpiringPoints", "remaining: {_gt: 0}", "member_code: {_eq: \"x\"}"),
			[]string{"operation ExpiringPoints, role member", "point_lots(where).member_code"}},
		{"an update of a column the role may not set", collections,
			replaceAfter("mutation UpdateProfile", "phone: $phone}", "birthday: $phone}"),
			[]string{"operation UpdateProfile, role member", "may not update column birthday of public.members"}},
		{"a table the role has no permission for", collections,
			replaceAfter("query MyNotifications", "notifications(", "trigger_failures("),
			[]string{"operation MyNotifications, role member", "no permission for query on table public.trigger_failures"}},
		{"a root field Hasura does not generate", collections,
			replaceAfter("query Tiers", "tiers(", "tier("),
			[]string{"operation Tiers, role anonymous", "tier: is no query root field"}},
		{"an action field its output type lacks", collections,
			replaceAfter("mutation EarnPoints", "duplicate\n", "isDuplicate\n"),
			[]string{"operation EarnPoints, role staff", "EarnPointsOutput has no field isDuplicate"}},
		{"an action argument it does not take", collections,
			replaceAfter("mutation RedeemReward", "redeemReward(input: $input)", "redeemReward(input: $input, dryRun: true)"),
			[]string{"operation RedeemReward, role member", "takes no argument dryRun"}},
		{"an operation that does not parse", collections,
			replaceAfter("query StaffMe", "store_id\n", "store_id(\n"),
			[]string{"operation StaffMe", "does not parse"}},
		{"an action allowed to a role that may not call it", allowList,
			replaceAfter("- collection: store_app", "- staff", "- member"),
			[]string{"operation EarnPoints, role member", "may not call action earnPoints"}},
		{"member operations open to anonymous", allowList,
			replaceAfter("- collection: member_app", "- member", "- anonymous"),
			[]string{"operation MemberProfile, role anonymous", "no permission for query on table public.members"}},
		{"a global entry is walked for every role", allowList,
			replaceAfter("- collection: programme", "global: false", "global: true"),
			[]string{"operation ProgramRules, role staff", "no permission for query on table public.program_settings"}},
		{"an allow list entry for a missing collection", allowList,
			replaceFirst("- collection: member_app", "- collection: member_apps"),
			[]string{"allow list entry member_apps", "names no collection"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := contract.Load(editedMetadata(t, tc.file, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			expectReported(t, nil, contract.CheckOperations(m, cat, policy.Roles), tc.want...)
		})
	}
}
