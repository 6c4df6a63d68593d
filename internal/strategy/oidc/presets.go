package oidc

// preset is what a provider name stands for: where its endpoints are and
// how its claims are read. OpenID Connect presets find their endpoints by
// discovery at issuer; plain OAuth2 presets name them and read the
// profile from an API whose fields map onto Claims.
type preset struct {
	// issuer is the discovery base of an OpenID Connect preset; empty
	// means the config's issuer_url is required. "{tenant}" is replaced
	// by microsoft_tenant.
	issuer string
	// oauth2Only presets have no id_token: claims come from profileURL.
	oauth2Only bool
	authURL    string
	tokenURL   string
	// profileURL answers the signed-in user's profile as JSON; profile
	// maps Claims field names to dotted paths in that answer.
	profileURL string
	profile    map[string]string
	// emailsURL lists the user's addresses as GitHub does:
	// [{email, primary, verified}]; emailsScopes are the scopes that
	// grant it (none: always fetched).
	emailsURL    string
	emailsScopes []string
	// iss is the issuer claim given to OAuth2 presets, which have none.
	iss string
	// refreshPrompt adds prompt=login to refreshing sign-ins;
	// requestedClaims sends requested_claims as the claims parameter.
	refreshPrompt   bool
	requestedClaims bool
	// appSecretProof signs API calls with the client secret (Facebook).
	appSecretProof bool
	// multiTenant presets issue tokens whose iss names the user's tenant
	// rather than the discovery issuer (Microsoft's common endpoints).
	multiTenant bool
	// formPost asks for response_mode=form_post when the scopes include
	// email or name (Apple).
	formPost bool
	// meURL answers {id} for subject_source "me" (Microsoft Graph).
	meURL string
	// signedClientSecret: the client secret is a JWT signed with the
	// Apple private key.
	signedClientSecret bool
}

// presets are the provider names NewProvider supports. The rest of
// config.OIDCPresets answer errNotSupported.
var presets = map[string]preset{
	"generic": {refreshPrompt: true, requestedClaims: true},
	"google":  {issuer: "https://accounts.google.com"},
	"microsoft": {
		issuer:      "https://login.microsoftonline.com/{tenant}/v2.0",
		multiTenant: true,
		meURL:       "https://graph.microsoft.com/v1.0/me",
	},
	"gitlab":      {issuer: "https://gitlab.com"},
	"auth0":       {},
	"salesforce":  {issuer: "https://login.salesforce.com"},
	"slack":       {issuer: "https://slack.com"},
	"netid":       {issuer: "https://broker.netid.de/"},
	"linkedin_v2": {issuer: "https://www.linkedin.com/oauth"},
	"apple": {
		issuer:             "https://appleid.apple.com",
		refreshPrompt:      true,
		requestedClaims:    true,
		formPost:           true,
		signedClientSecret: true,
	},
	"github": github([]string{"user:email", "user"}),
	// A GitHub App reads the emails whatever its scopes.
	"github-app": github(nil),
	"discord": {
		oauth2Only: true,
		authURL:    "https://discord.com/oauth2/authorize",
		tokenURL:   "https://discord.com/api/oauth2/token",
		iss:        "https://discord.com/api/v10/oauth2/",
		profileURL: "https://discord.com/api/users/@me",
		profile: map[string]string{
			"sub": "id", "name": "username", "nickname": "username", "preferred_username": "username",
			"email": "email", "email_verified": "verified", "locale": "locale",
		},
	},
	"facebook": {
		oauth2Only:     true,
		authURL:        "https://www.facebook.com/v17.0/dialog/oauth",
		tokenURL:       "https://graph.facebook.com/v17.0/oauth/access_token",
		iss:            "https://graph.facebook.com/me",
		profileURL:     "https://graph.facebook.com/me?fields=id,name,first_name,last_name,middle_name,email,picture,birthday,gender",
		appSecretProof: true,
		profile: map[string]string{
			"sub": "id", "name": "name", "given_name": "first_name", "family_name": "last_name",
			"middle_name": "middle_name", "email": "email", "picture": "picture.data.url",
			"birthdate": "birthday", "gender": "gender",
		},
	},
	"spotify": {
		oauth2Only: true,
		authURL:    "https://accounts.spotify.com/authorize",
		tokenURL:   "https://accounts.spotify.com/api/token",
		iss:        "https://accounts.spotify.com/authorize",
		profileURL: "https://api.spotify.com/v1/me",
		profile: map[string]string{
			"sub": "id", "name": "display_name", "email": "email", "picture": "images.0.url",
			"profile": "external_urls.spotify", "locale": "country",
		},
	},
	"amazon": {
		oauth2Only: true,
		authURL:    "https://www.amazon.com/ap/oa",
		tokenURL:   "https://api.amazon.com/auth/o2/token",
		iss:        "https://api.amazon.com/user/profile",
		profileURL: "https://api.amazon.com/user/profile",
		profile:    map[string]string{"sub": "user_id", "name": "name", "email": "email"},
	},
	"yandex": {
		oauth2Only: true,
		authURL:    "https://oauth.yandex.com/authorize",
		tokenURL:   "https://oauth.yandex.com/token",
		iss:        "https://oauth.yandex.com/authorize",
		profileURL: "https://login.yandex.ru/info?format=json",
		profile: map[string]string{
			"sub": "id", "nickname": "login", "name": "real_name", "given_name": "first_name",
			"family_name": "last_name", "email": "default_email", "gender": "sex", "birthdate": "birthday",
		},
	},
	"patreon": {
		oauth2Only: true,
		authURL:    "https://www.patreon.com/oauth2/authorize",
		tokenURL:   "https://www.patreon.com/api/oauth2/token",
		iss:        "https://www.patreon.com",
		profileURL: "https://www.patreon.com/api/oauth2/v2/identity?fields%5Buser%5D=first_name,last_name,full_name,email,image_url,is_email_verified",
		profile: map[string]string{
			"sub": "data.id", "name": "data.attributes.full_name", "given_name": "data.attributes.first_name",
			"family_name": "data.attributes.last_name", "email": "data.attributes.email",
			"email_verified": "data.attributes.is_email_verified", "picture": "data.attributes.image_url",
		},
	},
}

// github is the GitHub preset: OAuth2 only, the profile from the user API
// and the addresses from the emails API, read when one of emailsScopes was
// granted (nil: always).
func github(emailsScopes []string) preset {
	return preset{
		oauth2Only: true,
		authURL:    "https://github.com/login/oauth/authorize",
		tokenURL:   "https://github.com/login/oauth/access_token",
		iss:        "https://github.com/login/oauth/access_token",
		profileURL: "https://api.github.com/user",
		profile: map[string]string{
			"sub": "id", "nickname": "login", "name": "name", "picture": "avatar_url",
			"profile": "html_url", "website": "blog",
		},
		emailsURL:    "https://api.github.com/user/emails",
		emailsScopes: emailsScopes,
	}
}
