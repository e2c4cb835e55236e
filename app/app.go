// Package app serves the public web site members land on (site/): the programme guide, the
// store links, the invite page, and the /.well-known files of iOS Universal Links and Android
// App Links. The same handler runs in the app image (cmd/app-server) and in the browser tests,
// so what is tested is what is served.
package app

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
)

//go:embed site
var embedded embed.FS

// Site is the static site as built into the binary.
func Site() fs.FS {
	f, err := fs.Sub(embedded, "site")
	if err != nil {
		panic(err) // only on a malformed literal path above
	}
	return f
}

// Config is what differs between environments: the apps' identities and store pages. The
// deploy overlays give it (deploy/<env>/app.env) as environment variables.
type Config struct {
	// AppleAppIDs are "<team id>.<bundle id>", the apps that may open this site's links.
	AppleAppIDs []string `envconfig:"APPLE_APP_IDS" json:"-"`
	// AndroidPackage is the Android application id; AndroidCertSHA256 the SHA-256
	// fingerprints of its signing certificates (AA:BB:...).
	AndroidPackage    string   `envconfig:"ANDROID_PACKAGE" json:"androidPackage"`
	AndroidCertSHA256 []string `envconfig:"ANDROID_CERT_SHA256" json:"-"`
	AppStoreURL       string   `envconfig:"APP_STORE_URL" json:"appStoreUrl"`
	PlayStoreURL      string   `envconfig:"PLAY_STORE_URL" json:"playStoreUrl"`
	// DeepLinkScheme is the app's URL scheme: <scheme>://invite?code=...
	DeepLinkScheme string `envconfig:"DEEP_LINK_SCHEME" json:"deepLinkScheme"`
}

var (
	appleAppID  = regexp.MustCompile(`^[A-Z0-9]{10}\.[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
	androidPkg  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)+$`)
	fingerprint = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){31}$`)
	urlScheme   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
)

// Validate names every setting that is missing or malformed, so a bad overlay fails at start
// instead of publishing a well-known file the platforms silently ignore.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if len(c.AppleAppIDs) == 0 {
		bad("APPLE_APP_IDS", "missing")
	}
	for _, id := range c.AppleAppIDs {
		if !appleAppID.MatchString(id) {
			bad("APPLE_APP_IDS", "%q is not <10-character team id>.<bundle id>", id)
		}
	}
	if !androidPkg.MatchString(c.AndroidPackage) {
		bad("ANDROID_PACKAGE", "%q is not an Android application id", c.AndroidPackage)
	}
	if len(c.AndroidCertSHA256) == 0 {
		bad("ANDROID_CERT_SHA256", "missing")
	}
	for _, f := range c.AndroidCertSHA256 {
		if !fingerprint.MatchString(f) {
			bad("ANDROID_CERT_SHA256", "%q is not a SHA-256 fingerprint (32 upper-case hex pairs joined by ':')", f)
		}
	}
	for name, u := range map[string]string{"APP_STORE_URL": c.AppStoreURL, "PLAY_STORE_URL": c.PlayStoreURL} {
		if !strings.HasPrefix(u, "https://") || strings.ContainsAny(u, " \"'<>") {
			bad(name, "%q is not an https URL", u)
		}
	}
	if !urlScheme.MatchString(c.DeepLinkScheme) || c.DeepLinkScheme == "http" || c.DeepLinkScheme == "https" {
		bad("DEEP_LINK_SCHEME", "%q is not an app URL scheme", c.DeepLinkScheme)
	}
	return errors.Join(errs...)
}

// LinkPaths are the paths the apps open instead of the browser when installed.
var LinkPaths = []string{"/invite/*", "/open/*"}

// AppleAppSiteAssociation is /.well-known/apple-app-site-association: the "components" form
// (iOS 13 and later) and the older "paths" form, which iOS 12 still reads.
func (c Config) AppleAppSiteAssociation() ([]byte, error) {
	type component struct {
		Path string `json:"/"`
	}
	type detail struct {
		AppIDs     []string    `json:"appIDs"`
		Components []component `json:"components"`
		AppID      string      `json:"appID"`
		Paths      []string    `json:"paths"`
	}
	var details []detail
	for _, id := range c.AppleAppIDs {
		d := detail{AppIDs: []string{id}, AppID: id, Paths: LinkPaths}
		for _, p := range LinkPaths {
			d.Components = append(d.Components, component{Path: p})
		}
		details = append(details, d)
	}
	doc := map[string]any{
		"applinks":       map[string]any{"apps": []string{}, "details": details},
		"webcredentials": map[string]any{"apps": c.AppleAppIDs},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// AssetLinks is /.well-known/assetlinks.json, the Digital Asset Links statement that lets
// the Android app verify its App Links for this host.
func (c Config) AssetLinks() ([]byte, error) {
	doc := []map[string]any{{
		"relation": []string{"delegate_permission/common.handle_all_urls"},
		"target": map[string]any{
			"namespace":                "android_app",
			"package_name":             c.AndroidPackage,
			"sha256_cert_fingerprints": c.AndroidCertSHA256,
		},
	}}
	return json.MarshalIndent(doc, "", "  ")
}

// Caching: pages, translations and the config are revalidated on every visit (their ETag
// makes that a 304), so a release shows at once; assets keep an hour, as their names carry
// no version; the well-known files are fetched by Apple's CDN and Android, an hour is plenty.
const (
	cacheRevalidate = "no-cache"
	cacheAssets     = "public, max-age=3600"
	cacheWellKnown  = "public, max-age=3600"
)

// contentSecurityPolicy allows only this origin: the page makes no third-party request, and
// a script injected through a URL would not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body        []byte
	contentType string
	cache       string
	etag        string
}

// Handler serves site with cfg. Every file is read once here, so a request never touches
// the file system.
func Handler(site fs.FS, cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	files := map[string]*file{}
	err := fs.WalkDir(site, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(site, p)
		if err != nil {
			return err
		}
		cache := cacheRevalidate
		if strings.HasPrefix(p, "assets/") {
			cache = cacheAssets
		}
		files["/"+p] = newFile(body, contentType(p), cache)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, must := range []string{"/index.html", "/404.html", "/invite/index.html"} {
		if files[must] == nil {
			return nil, fmt.Errorf("site has no %s", must)
		}
	}
	aasa, err := cfg.AppleAppSiteAssociation()
	if err != nil {
		return nil, err
	}
	links, err := cfg.AssetLinks()
	if err != nil {
		return nil, err
	}
	public, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	// Apple requires application/json and no extension and no redirect for this path.
	files["/.well-known/apple-app-site-association"] = newFile(aasa, "application/json", cacheWellKnown)
	files["/.well-known/assetlinks.json"] = newFile(links, "application/json", cacheWellKnown)
	files["/app-config.json"] = newFile(public, "application/json; charset=utf-8", cacheRevalidate)
	return &handler{files: files, cfg: cfg}, nil
}

func newFile(body []byte, ctype, cache string) *file {
	sum := sha256.Sum256(body)
	return &file{body: body, contentType: ctype, cache: cache, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

type handler struct {
	files map[string]*file
	cfg   Config
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/healthz":
		hd.Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
		return
	case p == "/get-app/ios", p == "/get-app/android":
		// The store links without JavaScript: the page points here, the script replaces them
		// with the store URLs themselves.
		target := h.cfg.AppStoreURL
		if p == "/get-app/android" {
			target = h.cfg.PlayStoreURL
		}
		hd.Set("Cache-Control", cacheRevalidate)
		http.Redirect(w, r, target, http.StatusFound)
		return
	case p == "/invite":
		// Relative links of the invite page need the slash; the query (the code) goes along.
		to := "/invite/"
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
		return
	case p == "/open" || strings.HasPrefix(p, "/open/"):
		// A Universal Link or App Link followed where the app is not installed: the home
		// page, with the store links.
		p = "/index.html"
	case strings.HasSuffix(p, "/"):
		p += "index.html"
	case p == "/index.html" || p == "/404.html" || strings.HasSuffix(p, "/index.html"):
		// One address per page: the file names are not pages of their own.
		p = ""
	}
	f, ok := h.files[p]
	status := http.StatusOK
	if !ok {
		f, status = h.files["/404.html"], http.StatusNotFound
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", f.cache)
	if status == http.StatusOK {
		hd.Set("ETag", f.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = bytes.NewReader(f.body).WriteTo(w)
	}
}
