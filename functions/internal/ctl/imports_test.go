package ctl_test

import (
	"path/filepath"
	"strings"
	"testing"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

func TestImportStoresUpsertsByCodeAndADryRunChangesNothing(t *testing.T) {
	w := newWorld(t)
	lt.Exec(t, w.db, `INSERT INTO stores (code, name, timezone) VALUES ('SBY', 'Old name', 'Asia/Tokyo')`)
	file := write(t, filepath.Join(t.TempDir(), "stores.csv"), "name,code,active\nShibuya,SBY,true\nShinjuku,SHJ,false\n")
	before := w.checksum("stores")
	w.want(w.run("import", "stores", file, "--dry-run"), 0,
		`update  SBY`, `name    "Old name"`, `"Shibuya"`, "insert", `"Shinjuku"`, "1 inserted, 1 updated, 0 unchanged (dry run: nothing written)")
	if w.checksum("stores") != before {
		t.Fatal("a dry run changed stores")
	}
	w.want(w.run("import", "stores", file), 0, "1 inserted, 1 updated, 0 unchanged (written)")
	if n := lt.Count(t, w.db, `SELECT count(*) FROM stores WHERE (code, name, active, timezone) IN (('SBY', 'Shibuya', true, 'Asia/Tokyo'), ('SHJ', 'Shinjuku', false, 'UTC'))`); n != 2 {
		t.Fatalf("%d stores as the file says (timezone left out keeps its value or default), want 2", n)
	}
	w.want(w.run("import", "stores", file), 0, "0 inserted, 0 updated, 2 unchanged")
}

func TestImportRewardsInsertsRowsWithoutIDAndUpdatesByID(t *testing.T) {
	w := newWorld(t)
	id := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	file := write(t, filepath.Join(t.TempDir(), "rewards.csv"),
		"id,name,points_cost,stock,active_to\n"+id+",Coffee,120,,\n,Cake,300,20,2026-12-31T23:59:59+09:00\n")
	a := w.run("import", "rewards", file, "--json")
	w.want(a, 0)
	res := decode[struct {
		Rows []struct {
			Action, Key string
			Changes     []struct {
				Field    string
				From, To *string
			}
		}
	}](t, a.out)
	if len(res.Rows) != 2 || res.Rows[0].Action != "update" || res.Rows[0].Key != id || res.Rows[1].Action != "insert" || len(res.Rows[1].Key) != 36 {
		t.Fatalf("rows %+v", res.Rows)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM rewards WHERE id = $1 AND name = 'Coffee' AND points_cost = 120 AND stock IS NULL`, id); n != 1 {
		t.Error("the reward was not updated by id")
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM rewards WHERE name = 'Cake' AND stock = 20 AND active_to = '2026-12-31T14:59:59Z'`); n != 1 {
		t.Error("the new reward was not inserted")
	}
}

func TestAnImportListsEveryProblemWithItsLineAndFieldAndWritesNothing(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	tests := []struct {
		name, table, csv string
		want             []string
	}{
		{"bad cells on several lines", "rewards",
			"id,name,points_cost,stock,per_member_limit,active,active_from\n" +
				"not-a-uuid,Tea,10,,,true,\n" +
				",,0,-1,0,maybe,tomorrow\n" +
				",Cake,x,,,,\n",
			[]string{"rewards.csv:2: id: \"not-a-uuid\" is not a uuid", "rewards.csv:3: name: is required", "rewards.csv:3: points_cost: 0 is below 1",
				"rewards.csv:3: stock: -1 is below 0", "rewards.csv:3: per_member_limit: 0 is below 1", "rewards.csv:3: active: \"maybe\" is not true or false",
				"rewards.csv:3: active_from: \"tomorrow\" is not a timestamp", "rewards.csv:4: points_cost: \"x\" is not a whole number", "rewards.csv:4: active: is required", "9 problems, nothing written"}},
		{"an unknown or doubled column", "stores", "code,name,colour,name\nA,a,red,b\n",
			[]string{"stores.csv:1: colour: is not a column of stores", "stores.csv:1: name: is named twice"}},
		{"stores without code", "stores", "name\nx\n", []string{"stores.csv:1: code: is required"}},
		{"a code twice and a bad time zone", "stores", "code,name,timezone\nA,a,Asia/Tokyo\nA,b,Mars/Olympus\n",
			[]string{"stores.csv:3: code: A is also on line 2", "stores.csv:3: timezone: \"Mars/Olympus\" is not an IANA time zone"}},
		{"a new reward without its cost", "rewards", "name\nTea\n", []string{"rewards.csv:2: points_cost: is required for a new row"}},
		{"a row with too many cells", "stores", "code,name\nA,a,extra\n", []string{"stores.csv:2:", "wrong number of fields"}},
		{"a header only", "stores", "code,name\n", []string{"no rows after the header"}},
		{"a store the database refuses rolls back the rows before it", "rewards",
			"name,points_cost,store_id\nTea,10,\nCake,10,00000000-0000-4000-8000-000000000099\n",
			[]string{"rewards.csv:3:", "foreign key", "nothing written"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := write(t, filepath.Join(dir, tt.table+".csv"), tt.csv)
			before := w.checksum("stores", "rewards")
			a := w.run("import", tt.table, file)
			w.want(a, 1, tt.want...)
			if w.checksum("stores", "rewards") != before {
				t.Fatal("a refused import wrote something")
			}
			j := decode[struct {
				Error struct {
					Code     string
					Problems []struct{ Line int }
				}
			}](t, w.run("import", tt.table, file, "--json").out)
			if j.Error.Code != "invalid_csv" || len(j.Error.Problems) == 0 || !strings.Contains(a.errOut, "invalid_csv") {
				t.Errorf("json error %+v", j)
			}
		})
	}
}

// A row whose key is not in the database is a new row, with or without the key: it must have
// every required column, and every such problem is listed with the others before anything is
// written. What only the database can tell (a clash, a check) names the line and the field.
func TestAnImportChecksNewRowsByTheKeysInTheDatabaseAndListsEveryProblem(t *testing.T) {
	w := newWorld(t)
	lt.Exec(t, w.db, `INSERT INTO stores (id, code, name) VALUES ('00000000-0000-4000-8000-0000000000a1', 'SBY', 'Shibuya')`)
	reward := lt.Reward(t, w.db, lt.RewardSpec{Cost: 100})
	dir := t.TempDir()
	type problem struct {
		File, Field, Message string
		Line                 int
	}
	tests := []struct {
		name, table, csv string
		want             []string
		problems         int
	}{
		{"stores: a code not yet in the database is a new store and needs its name", "stores",
			"code,timezone\nSBY,Asia/Tokyo\nNEW1,Asia/Tokyo\nNEW2,Mars/Olympus\n",
			[]string{"stores.csv:3: name: is required for a new row (code NEW1 is not in stores)",
				"stores.csv:4: name: is required for a new row (code NEW2 is not in stores)",
				"stores.csv:4: timezone: \"Mars/Olympus\" is not an IANA time zone", "3 problems, nothing written"}, 3},
		{"rewards: an id not yet in the database is a new reward and needs its name and cost", "rewards",
			"id,description\n" + reward + ",new words\n00000000-0000-4000-8000-0000000000aa,with an id\n,without\n",
			[]string{"rewards.csv:3: name: is required for a new row (id 00000000-0000-4000-8000-0000000000aa is not in rewards)",
				"rewards.csv:3: points_cost: is required for a new row", "rewards.csv:4: name: is required for a new row (no id)",
				"rewards.csv:4: points_cost: is required for a new row (no id)", "4 problems, nothing written"}, 4},
		{"what the database refuses is listed for every line, with its field", "rewards",
			"name,points_cost,store_id,active_from,active_to\n" +
				"Tea,10,00000000-0000-4000-8000-000000000099,,\n" +
				"Cake,10,,2026-09-01T00:00:00+09:00,2026-07-01T00:00:00+09:00\n" +
				"Pie,10,00000000-0000-4000-8000-000000000098,,\n",
			[]string{"rewards.csv:2: store_id: ", "rewards.csv:3: active_from,active_to: ", "rewards.csv:4: store_id: ", "3 problems, nothing written"}, 3},
		{"a new store with the id of another clashes on id", "stores",
			"code,id,name\nSHJ,00000000-0000-4000-8000-0000000000a1,Shinjuku\n",
			[]string{"stores.csv:2: id: ", "already exists"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := write(t, filepath.Join(dir, tt.table+".csv"), tt.csv)
			before := w.checksum("stores", "rewards")
			w.want(w.run("import", tt.table, file), 1, tt.want...)
			w.want(w.run("import", tt.table, file, "--dry-run"), 1, tt.want...)
			if w.checksum("stores", "rewards") != before {
				t.Fatal("a refused import wrote something")
			}
			j := decode[struct {
				Error struct {
					Code     string
					Problems []problem
				}
			}](t, w.run("import", tt.table, file, "--json").out)
			if j.Error.Code != "invalid_csv" || len(j.Error.Problems) != tt.problems {
				t.Fatalf("json error %+v, want %d problems", j, tt.problems)
			}
			for _, p := range j.Error.Problems {
				if p.File != file || p.Line < 2 || p.Field == "" || p.Message == "" {
					t.Errorf("a problem without its file, line or field: %+v", p)
				}
			}
		})
	}
}
