package contract

import (
	"slices"
	"strings"
)

// Edge is a relationship a query can follow: from a table, by name.
type Edge struct{ Table, Relationship string }

func (e Edge) String() string { return e.Table + "." + e.Relationship }

// CheckRelationshipCycles reports, per role, every cycle of relationships the role can follow
// from table to table (each table in it one the role may select): a query that goes round
// one reads the same rows again at every level, and each level multiplies the rows by the
// relationship's fan-out, so a short query asks for an exponential answer. A cycle whose
// every edge is in bounded (each is justified where it is declared, e.g. a role that sees one
// row at its end) is not reported. admin, which may run anything, is not checked.
func CheckRelationshipCycles(m *Metadata, cat *Catalog, bounded []Edge) []Problem {
	var ps problems
	for _, role := range roles(m) {
		readable := map[QualifiedTable]bool{}
		for _, s := range m.Sources {
			for _, t := range s.Tables {
				if slices.ContainsFunc(t.SelectPermissions, func(p RolePermission[SelectPermission]) bool { return p.Role == role }) {
					readable[t.Table] = true
				}
			}
		}
		type step struct {
			edge Edge
			to   QualifiedTable
		}
		next := map[QualifiedTable][]step{}
		for table := range readable {
			t, _ := m.Table(table)
			for _, r := range slices.Concat(t.ObjectRelationships, t.ArrayRelationships) {
				if to, ok := relationshipTarget(m, cat, table, r.Name); ok && readable[to] {
					next[table] = append(next[table], step{Edge{table.Name, r.Name}, to})
				}
			}
		}
		// Every elementary cycle, once: found from its smallest table, by depth-first search.
		tables := sortedTables(readable)
		for i, start := range tables {
			var path []Edge
			onPath := map[QualifiedTable]bool{}
			var walk func(at QualifiedTable)
			walk = func(at QualifiedTable) {
				onPath[at] = true
				for _, s := range next[at] {
					switch {
					case s.to == start:
						cycle := append(slices.Clone(path), s.edge)
						if !slices.ContainsFunc(cycle, func(e Edge) bool { return !slices.Contains(bounded, e) }) {
							continue
						}
						names := make([]string, len(cycle))
						for k, e := range cycle {
							names[k] = e.String()
						}
						ps.add("role "+role, "can follow the cycle %s -> %s.…: drop a relationship of it, or bound it", strings.Join(names, " -> "), start.Name)
					case !onPath[s.to] && slices.Index(tables, s.to) > i:
						path = append(path, s.edge)
						walk(s.to)
						path = path[:len(path)-1]
					}
				}
				onPath[at] = false
			}
			walk(start)
		}
	}
	return ps
}

// roles are the roles of the metadata's select permissions, but admin.
func roles(m *Metadata) []string {
	var out []string
	for _, s := range m.Sources {
		for _, t := range s.Tables {
			for _, p := range t.SelectPermissions {
				if p.Role != "admin" && !slices.Contains(out, p.Role) {
					out = append(out, p.Role)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedTables(set map[QualifiedTable]bool) []QualifiedTable {
	out := make([]QualifiedTable, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b QualifiedTable) int { return strings.Compare(a.String(), b.String()) })
	return out
}
