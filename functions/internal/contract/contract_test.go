package contract_test

import (
	"context"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/contract"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pgtest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/routes"
	project "github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// product is the action table of product.md: who may call what. admin may call everything
// (Hasura gives it every action without a permission entry).
var product = []contract.ProductAction{
	{Name: "registerMember", Roles: []string{"member"}},
	{Name: "memberCard", Query: true, Roles: []string{"member"}},
	{Name: "earnPoints", Roles: []string{"staff", "admin"}},
	{Name: "redeemReward", Roles: []string{"member"}},
	{Name: "useCoupon", Roles: []string{"staff", "admin"}},
	{Name: "refundOrder", Roles: []string{"staff", "admin"}}, // managers only: the handler checks the staff row
	{Name: "adjustPoints", Roles: []string{"admin"}},
	{Name: "deleteMyAccount", Roles: []string{"member"}},
}

// policy is what product.md says about reading and writing tables.
var policy = contract.Policy{
	Roles: []string{"anonymous", "member", "staff"},
	// The Pre Token Generation Lambda puts only the user id (and the roles) in the token.
	SessionVariables: []string{contract.UserIDVariable},
	// A member edits their own profile and marks their notifications read; everything else is
	// written by the functions or admin: the ledger, lots, coupons, balances, campaigns and
	// program settings above all.
	Writes: []contract.WriteGrant{
		{Table: "members", Op: "update", Role: "member", Columns: []string{"display_name", "phone"}},
		{Table: "notifications", Op: "update", Role: "member", Columns: []string{"read_at"}},
	},
	Owned: []contract.Ownership{
		{Role: "member", Table: "members", Column: "id"},
		{Role: "member", Table: "point_transactions", Column: "member_id"},
		{Role: "member", Table: "point_lots", Column: "member_id"},
		{Role: "member", Table: "coupons", Column: "member_id"},
		{Role: "member", Table: "orders", Column: "member_id"},
		{Role: "member", Table: "notifications", Column: "member_id"},
	},
	Private: []contract.Private{
		{Role: "anonymous", Tables: []string{"members", "staff", "orders", "coupons", "point_transactions", "point_lots", "notifications"}},
	},
	Limited:  []string{"point_transactions", "point_lots", "coupons", "orders", "notifications"},
	MaxLimit: 500,
	// Everyone sees the active campaigns whose window has not ended; a member reads their own
	// referral code (the row is theirs: Owned) and everyone the referral programme's rules.
	Readable: []contract.Readable{
		{Table: "campaigns", Roles: []string{"anonymous", "member", "staff"}, Filter: []contract.BoolExp{
			{"active": map[string]any{"_eq": true}},
			{"ends_at": map[string]any{"_gt": "now()"}},
		}},
		{Table: "members", Roles: []string{"member"}, Columns: []string{"referral_code"}},
		// The app tells what inviting a friend earns, as it tells the welcome bonus.
		{Table: "program_settings", Roles: []string{"anonymous", "member"}, Columns: []string{
			"referral_bonus_points", "referee_bonus_points", "referral_min_amount", "referral_yearly_limit"}},
	},
	// Who referred whom names another member (their id is their Cognito sub): admin only.
	// Who credited, refunded, adjusted or took a coupon (a crew member's id) is for disputes,
	// which admin settles.
	AdminOnly: []contract.TableColumns{
		{Table: "members", Columns: []string{"referred_by", "referral_order_id"}},
		{Table: "point_transactions", Columns: []string{"created_by"}},
		{Table: "coupons", Columns: []string{"used_by"}},
	},
}

// boundedCycles are the relationship cycles a role may follow, each for the reason given
// where it is declared: a crew member's staff rows are their own (staff's filter), so
// stores.staff -> staff.store leads back to the one store of each of them, not to a fan-out.
var boundedCycles = []contract.Edge{{Table: "stores", Relationship: "staff"}, {Table: "staff", Relationship: "store"}}

// goScalars are the Go types with their own JSON encoding used in action types.
var goScalars = contract.GoScalars{
	reflect.TypeFor[time.Time]():    {"timestamptz"},
	reflect.TypeFor[loyalty.Date](): {"date"},
}

// untracked are tables of schema public deliberately left out of the metadata (none yet).
var untracked []string

func loadMetadata(t *testing.T) *contract.Metadata {
	t.Helper()
	m, err := contract.Load(project.Metadata())
	if err != nil {
		t.Fatalf("load hasura/metadata: %v", err)
	}
	return m
}

// routeTable is the route table the binary serves; building it touches no database.
func routeTable() []routes.Route {
	return routes.Table(&hasura.Envelope{Secret: "x"}, loyalty.New(nil))
}

func readCatalog(t *testing.T, db contract.Querier) *contract.Catalog {
	t.Helper()
	cat, err := contract.ReadCatalog(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func expectNoProblems(t *testing.T, ps []contract.Problem) {
	t.Helper()
	for _, p := range ps {
		t.Error(p)
	}
}

func TestTheMetadataIsTheDirectoryTheHasuraCLIWrites(t *testing.T) {
	m := loadMetadata(t)
	expectNoProblems(t, contract.CheckLayout(project.Metadata(), m))
	if len(m.Sources) != 1 || m.Sources[0].Name != "default" || m.Sources[0].Kind != "postgres" {
		t.Errorf("databases.yaml has %d sources; want the one postgres source named default", len(m.Sources))
	}
}

func TestEveryDeclaredHandlerHasARouteOfItsKindAndEveryRouteIsDeclared(t *testing.T) {
	table := routeTable()
	expectNoProblems(t, contract.CheckRoutes(loadMetadata(t), table))
	for _, r := range table {
		if r.Pending {
			t.Logf("pending: %s (%s) is declared but answers 501 until it is built", r.Name, r.Kind)
		}
	}
}

func TestHasuraCallsEveryHandlerThroughTheFunctionsBaseURLWithTheSharedSecret(t *testing.T) {
	expectNoProblems(t, contract.CheckWiring(loadMetadata(t)))
}

func TestActionsYAMLAndActionsGraphQLDeclareTheSameActionsAndTypes(t *testing.T) {
	expectNoProblems(t, contract.CheckActionsSDL(loadMetadata(t)))
}

func TestActionArgumentAndOutputTypesMatchTheGoTypesOfTheirRoutes(t *testing.T) {
	expectNoProblems(t, contract.CheckActionTypes(loadMetadata(t), routeTable(), goScalars))
}

func TestActionsAndTheirRolesAreThoseOfTheProduct(t *testing.T) {
	expectNoProblems(t, contract.CheckActionsFollowProduct(loadMetadata(t), product))
}

func TestTablePermissionsFollowTheProduct(t *testing.T) {
	expectNoProblems(t, contract.CheckPolicy(loadMetadata(t), policy))
}

func TestEverythingTheTableMetadataNamesExistsInTheMigratedDatabase(t *testing.T) {
	pool := pgtest.Pool(t)
	m := loadMetadata(t)
	cat := readCatalog(t, pool)
	expectNoProblems(t, contract.CheckDatabase(m, cat))
	expectNoProblems(t, contract.CheckTracked(m, cat, "public", untracked))
	lits := contract.Literals(m, cat)
	if len(lits) == 0 {
		t.Error("found no literals in the permissions; the rewards window compares with now()")
	}
	expectNoProblems(t, contract.CheckLiterals(context.Background(), pool, lits))
}

func TestNoRoleButAdminCanFollowARelationshipCycle(t *testing.T) {
	m, cat := loadMetadata(t), readCatalog(t, pgtest.Pool(t))
	expectNoProblems(t, contract.CheckRelationshipCycles(m, cat, boundedCycles))
	// The one bounded cycle is there, and found when not declared bounded.
	unbounded := contract.CheckRelationshipCycles(m, cat, nil)
	if len(unbounded) != 1 || !strings.Contains(unbounded[0].String(), "role staff") || !strings.Contains(unbounded[0].String(), "staff.store") {
		t.Fatalf("without the bounded cycles: %v; want staff's stores.staff -> staff.store", unbounded)
	}
}

// Listing the schema tells a stranger or a member where to aim; their apps know their
// operations (the allow list).
func TestAnonymousAndMembersCannotListTheSchema(t *testing.T) {
	b, err := fs.ReadFile(project.Metadata(), "graphql_schema_introspection.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		DisabledForRoles []string `json:"disabled_for_roles"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"anonymous", "member"} {
		if !slices.Contains(doc.DisabledForRoles, role) {
			t.Errorf("graphql_schema_introspection.yaml lets %s introspect (disabled for %q)", role, doc.DisabledForRoles)
		}
	}
}

func TestEveryAllowListedOperationIsOneItsRolesMayRun(t *testing.T) {
	m := loadMetadata(t)
	if len(m.AllowList) == 0 || len(m.QueryCollections) == 0 {
		t.Fatal("no allow list or query collections: the apps' operations are what the allow list lets through")
	}
	expectNoProblems(t, contract.CheckOperations(m, readCatalog(t, pgtest.Pool(t)), policy.Roles))
}
