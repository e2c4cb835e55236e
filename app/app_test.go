package app

import (
	"bufio"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHeadersContentTypesAndStatuses(t *testing.T) {
	h, err := Handler(Site(), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, status, ctype, cache string
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache"},
		{"/invite/?code=ABCD2345", "200", "text/html; charset=utf-8", "no-cache"},
		{"/open/invite?code=ABCD2345", "200", "text/html; charset=utf-8", "no-cache"},
		{"/assets/site.js", "200", "text/javascript; charset=utf-8", "public, max-age=3600"},
		{"/assets/site.css", "200", "text/css; charset=utf-8", "public, max-age=3600"},
		{"/assets/logo.svg", "200", "image/svg+xml", "public, max-age=3600"},
		{"/i18n/vi.json", "200", "application/json; charset=utf-8", "no-cache"},
		{"/app-config.json", "200", "application/json; charset=utf-8", "no-cache"},
		// Apple: exactly application/json, at this path, with no redirect.
		{"/.well-known/apple-app-site-association", "200", "application/json", "public, max-age=3600"},
		{"/.well-known/assetlinks.json", "200", "application/json", "public, max-age=3600"},
		{"/no-such-page", "404", "text/html; charset=utf-8", "no-cache"},
		{"/index.html", "404", "text/html; charset=utf-8", "no-cache"},
		{"/../app.go", "404", "text/html; charset=utf-8", "no-cache"},
	}
	for _, c := range cases {
		res := get(t, h, c.path)
		if got := res.Status[:3]; got != c.status {
			t.Errorf("%s: status %s, want %s", c.path, got, c.status)
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, got, c.cache)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: security headers missing: %v", c.path, res.Header)
		}
	}
	if body, _ := io.ReadAll(get(t, h, "/missing").Body); !strings.Contains(string(body), `data-page="404"`) {
		t.Errorf("404 body is not the 404 page: %.200s", body)
	}
}

func TestUnchangedFilesAnswer304(t *testing.T) {
	h, err := Handler(Site(), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	etag := get(t, h, "/").Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on /")
	}
	if res := get(t, h, "/", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: %s, want 304", etag, res.Status)
	}
}

func TestRedirects(t *testing.T) {
	h, err := Handler(Site(), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/invite?code=ABCD2345": "/invite/?code=ABCD2345",
		"/get-app/ios":          testConfig.AppStoreURL,
		"/get-app/android":      testConfig.PlayStoreURL,
	} {
		res := get(t, h, path)
		if res.StatusCode/100 != 3 || res.Header.Get("Location") != want {
			t.Errorf("%s: %s to %q, want a redirect to %q", path, res.Status, res.Header.Get("Location"), want)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}
}

func TestWellKnownFilesNameTheConfiguredApps(t *testing.T) {
	h, err := Handler(Site(), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	var aasa struct {
		Applinks struct {
			Apps    []string
			Details []struct {
				AppIDs     []string
				Components []map[string]string
				AppID      string
				Paths      []string
			}
		}
	}
	if err := json.NewDecoder(get(t, h, "/.well-known/apple-app-site-association").Body).Decode(&aasa); err != nil {
		t.Fatal(err)
	}
	d := aasa.Applinks.Details
	if len(d) != 1 || !reflect.DeepEqual(d[0].AppIDs, testConfig.AppleAppIDs) || d[0].AppID != testConfig.AppleAppIDs[0] ||
		!reflect.DeepEqual(d[0].Paths, LinkPaths) || len(d[0].Components) != len(LinkPaths) || d[0].Components[0]["/"] != "/invite/*" {
		t.Errorf("apple-app-site-association: %+v", aasa)
	}
	var links []struct {
		Relation []string
		Target   struct {
			Namespace   string
			PackageName string   `json:"package_name"`
			Fingerprint []string `json:"sha256_cert_fingerprints"`
		}
	}
	if err := json.NewDecoder(get(t, h, "/.well-known/assetlinks.json").Body).Decode(&links); err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Relation[0] != "delegate_permission/common.handle_all_urls" || links[0].Target.Namespace != "android_app" ||
		links[0].Target.PackageName != testConfig.AndroidPackage || !reflect.DeepEqual(links[0].Target.Fingerprint, testConfig.AndroidCertSHA256) {
		t.Errorf("assetlinks.json: %+v", links)
	}
	// The page's config carries no more than the page needs.
	var public map[string]string
	if err := json.NewDecoder(get(t, h, "/app-config.json").Body).Decode(&public); err != nil {
		t.Fatal(err)
	}
	if len(public) != 4 || public["appStoreUrl"] != testConfig.AppStoreURL || public["deepLinkScheme"] != testConfig.DeepLinkScheme {
		t.Errorf("app-config.json: %v", public)
	}
}

func TestConfigRefusesWhatThePlatformsWouldIgnore(t *testing.T) {
	bad := testConfig
	bad.AppleAppIDs = []string{"com.kaiserkitchen.loyalty"} // no team id
	bad.AndroidCertSHA256 = []string{"aa:bb"}
	bad.AppStoreURL = "http://apps.apple.com/x"
	bad.DeepLinkScheme = "https"
	_, err := Handler(Site(), bad)
	if err == nil {
		t.Fatal("Handler accepted a bad config")
	}
	for _, name := range []string{"APPLE_APP_IDS", "ANDROID_CERT_SHA256", "APP_STORE_URL", "DEEP_LINK_SCHEME"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if _, err := Handler(Site(), Config{}); err == nil {
		t.Fatal("Handler accepted an empty config")
	}
}

// TestDeployOverlaysCarryAValidAppConfig reads deploy/<env>/app.env, the per-environment
// input of the app image, as the server reads its environment.
func TestDeployOverlaysCarryAValidAppConfig(t *testing.T) {
	seen := map[string]string{}
	for _, env := range []string{"dev", "stag", "prod"} {
		t.Run(env, func(t *testing.T) {
			vars := readEnvFile(t, filepath.Join("..", "deploy", env, "app.env"))
			for k, v := range vars {
				t.Setenv(k, v)
			}
			var cfg Config
			if err := envconfig.Process("", &cfg); err != nil {
				t.Fatal(err)
			}
			if _, err := Handler(Site(), cfg); err != nil {
				t.Fatal(err)
			}
			// Each environment is its own app: one app id claimed by two hosts would make
			// the wrong environment's app open the links.
			if other, dup := seen[cfg.AndroidPackage]; dup {
				t.Errorf("%s and %s share the Android package %s", other, env, cfg.AndroidPackage)
			}
			seen[cfg.AndroidPackage] = env
		})
	}
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=VALUE: %q", path, line)
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

func TestSiteWithoutImagesIsUnderTheBudget(t *testing.T) {
	total := 0
	err := fs.WalkDir(Site(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".svg") || strings.HasSuffix(p, ".png") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += int(info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > pageBudget {
		t.Fatalf("the site's text files weigh %d bytes; the budget of a page is %d", total, pageBudget)
	}
}
