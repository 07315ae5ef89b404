/// The JSON Schema of `gateway.json` (draft 2020-12), for editors and CI. `tokengate schema`
/// prints it; the repository ships it as `gateway.schema.json`. A test keeps its keys in
/// step with the decoder's, so the schema and `tokengate check` never disagree on a key.
public enum GatewaySchema {
    public static let text = #"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://tokengate.dev/schema/gateway.schema.json",
  "title": "TokenGate gateway.json",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "listeners",
    "routes"
  ],
  "properties": {
    "$schema": {
      "type": "string"
    },
    "listeners": {
      "type": "object",
      "minProperties": 1,
      "additionalProperties": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "address"
        ],
        "properties": {
          "address": {
            "$ref": "#/$defs/address"
          },
          "trusted_proxies": {
            "type": "array",
            "items": {
              "type": "string",
              "minLength": 1
            }
          },
          "max_header_bytes": {
            "type": "integer",
            "minimum": 1024,
            "maximum": 65536
          },
          "max_headers": {
            "type": "integer",
            "minimum": 8,
            "maximum": 1000
          },
          "header_read_timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 600
          },
          "idle_timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 3600
          },
          "max_connections": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000000
          },
          "tls": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "cert_file",
              "key_file"
            ],
            "properties": {
              "cert_file": {
                "type": "string",
                "minLength": 1
              },
              "key_file": {
                "type": "string",
                "minLength": 1
              },
              "min_version": {
                "enum": [
                  "1.2",
                  "1.3"
                ]
              },
              "client_ca_file": {
                "type": "string",
                "minLength": 1
              },
              "client_auth": {
                "enum": [
                  "required",
                  "optional"
                ]
              }
            }
          },
          "http2": {
            "type": "boolean"
          },
          "h2c": {
            "type": "boolean"
          },
          "max_concurrent_streams": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000
          }
        }
      }
    },
    "admin": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "address": {
          "$ref": "#/$defs/address"
        }
      }
    },
    "access_log": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {
          "type": "boolean"
        },
        "format": {
          "enum": [
            "auto",
            "json",
            "text"
          ]
        },
        "sample_rate": {
          "type": "number",
          "minimum": 0,
          "maximum": 1
        },
        "query": {
          "enum": [
            "redact_sensitive",
            "redact_all",
            "drop"
          ]
        },
        "redact_query_params": {
          "type": "array",
          "items": {
            "type": "string",
            "minLength": 1
          }
        }
      }
    },
    "store": {
      "description": "The PostgreSQL database a fleet of gateways shares: revocations and logout tokens. A restart applies a change.",
      "type": "object",
      "additionalProperties": false,
      "required": [
        "postgres"
      ],
      "properties": {
        "postgres": {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "url"
          ],
          "properties": {
            "url": {
              "$ref": "#/$defs/secret"
            },
            "ca_file": {
              "type": "string",
              "minLength": 1
            },
            "max_connections": {
              "type": "integer",
              "minimum": 2,
              "maximum": 32
            },
            "insecure_transport": {
              "type": "boolean"
            }
          }
        },
        "seal_keys": {
          "$ref": "#/$defs/keys"
        },
        "revocation_poll_seconds": {
          "type": "number",
          "minimum": 0.001,
          "maximum": 3600
        },
        "required_for_readiness": {
          "type": "boolean"
        }
      }
    },
    "workers": {
      "description": "Event-loop threads: 1 to 512, or \"auto\" (the CPUs the process may use, cgroup limit included). A restart applies a change.",
      "oneOf": [
        {
          "type": "integer",
          "minimum": 1,
          "maximum": 512
        },
        {
          "const": "auto"
        }
      ]
    },
    "shutdown": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "grace_seconds": {
          "type": "number",
          "minimum": 0.001,
          "maximum": 3600
        }
      }
    },
    "credentials": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "grant",
          "token_url",
          "client_id",
          "client_secret"
        ],
        "properties": {
          "grant": {
            "enum": [
              "client_credentials",
              "password"
            ]
          },
          "token_url": {
            "$ref": "#/$defs/url"
          },
          "client_id": {
            "type": "string",
            "minLength": 1
          },
          "client_secret": {
            "$ref": "#/$defs/secret"
          },
          "auth_method": {
            "$ref": "#/$defs/authMethod"
          },
          "scope": {
            "type": "string",
            "minLength": 1
          },
          "audience": {
            "type": "string",
            "minLength": 1
          },
          "resource": {
            "type": "string",
            "minLength": 1
          },
          "extra_params": {
            "type": "object",
            "additionalProperties": {
              "type": "string"
            }
          },
          "username": {
            "type": "string",
            "minLength": 1
          },
          "password": {
            "$ref": "#/$defs/secret"
          },
          "timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 300
          },
          "ca_file": {
            "type": "string",
            "minLength": 1
          },
          "default_lifetime_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 86400
          },
          "refresh_at_lifetime_fraction": {
            "type": "number",
            "exclusiveMinimum": 0.1,
            "exclusiveMaximum": 1
          },
          "header_name": {
            "type": "string",
            "minLength": 1
          },
          "header_scheme": {
            "type": "string"
          },
          "allow_insecure_http": {
            "type": "boolean"
          },
          "forced_refresh_min_interval_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 3600
          },
          "shared": {
            "type": "boolean"
          }
        },
        "if": {
          "properties": {
            "grant": {
              "const": "password"
            }
          }
        },
        "then": {
          "required": [
            "username",
            "password"
          ]
        }
      }
    },
    "introspection": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "url",
          "client_id",
          "client_secret"
        ],
        "properties": {
          "url": {
            "$ref": "#/$defs/url"
          },
          "client_id": {
            "type": "string",
            "minLength": 1
          },
          "client_secret": {
            "$ref": "#/$defs/secret"
          },
          "auth_method": {
            "$ref": "#/$defs/authMethod"
          },
          "timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 300
          },
          "ca_file": {
            "type": "string",
            "minLength": 1
          },
          "cache": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "max_entries": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000000
              },
              "max_ttl_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 86400
              },
              "negative_ttl_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 86400
              },
              "negative_max_entries": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000000
              }
            }
          },
          "max_in_flight": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100000
          },
          "allow_insecure_http": {
            "type": "boolean"
          }
        }
      }
    },
    "jwt": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "issuer"
        ],
        "properties": {
          "issuer": {
            "$ref": "#/$defs/url"
          },
          "jwks_uri": {
            "$ref": "#/$defs/url"
          },
          "algorithms": {
            "type": "array",
            "minItems": 1,
            "items": {
              "enum": [
                "RS256",
                "RS384",
                "RS512",
                "PS256",
                "PS384",
                "PS512",
                "ES256",
                "ES384",
                "ES512",
                "EdDSA",
                "HS256",
                "HS384",
                "HS512"
              ]
            }
          },
          "audience": {
            "oneOf": [
              {
                "type": "string",
                "minLength": 1
              },
              {
                "type": "array",
                "minItems": 1,
                "items": {
                  "type": "string",
                  "minLength": 1
                }
              }
            ]
          },
          "allow_any_audience": {
            "type": "boolean"
          },
          "clock_skew_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": 300
          },
          "types": {
            "type": "array",
            "minItems": 1,
            "items": {
              "type": "string",
              "minLength": 1
            }
          },
          "hmac_secret": {
            "$ref": "#/$defs/secret"
          },
          "ca_file": {
            "type": "string",
            "minLength": 1
          },
          "timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 300
          },
          "allow_insecure_http": {
            "type": "boolean"
          },
          "cache": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "max_entries": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000000
              }
            }
          },
          "jwks": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "refresh_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 604800
              },
              "min_refresh_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 604800
              },
              "max_refresh_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 604800
              },
              "unknown_kid_interval_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 3600
              },
              "startup_wait_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 600
              }
            }
          }
        },
        "anyOf": [
          {
            "required": [
              "audience"
            ]
          },
          {
            "properties": {
              "allow_any_audience": {
                "const": true
              }
            },
            "required": [
              "allow_any_audience"
            ]
          }
        ]
      }
    },
    "login": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "issuer",
          "client_id",
          "cookie_keys"
        ],
        "properties": {
          "issuer": {
            "$ref": "#/$defs/url"
          },
          "authorization_endpoint": {
            "$ref": "#/$defs/url"
          },
          "token_endpoint": {
            "$ref": "#/$defs/url"
          },
          "jwks_uri": {
            "$ref": "#/$defs/url"
          },
          "end_session_endpoint": {
            "$ref": "#/$defs/url"
          },
          "client_id": {
            "type": "string",
            "minLength": 1
          },
          "client_secret": {
            "$ref": "#/$defs/secret"
          },
          "auth_method": {
            "$ref": "#/$defs/authMethod"
          },
          "scopes": {
            "type": "array",
            "items": {
              "type": "string",
              "minLength": 1
            }
          },
          "cookie_keys": {
            "$ref": "#/$defs/keys"
          },
          "path_prefix": {
            "type": "string",
            "pattern": "^/.+"
          },
          "external_url": {
            "$ref": "#/$defs/url"
          },
          "post_logout_redirect": {
            "type": "string",
            "minLength": 1
          },
          "allowed_redirect_origins": {
            "type": "array",
            "items": {
              "type": "string",
              "minLength": 1
            }
          },
          "session": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "idle_timeout_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 2592000
              },
              "absolute_timeout_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 31536000
              },
              "store": {
                "enum": [
                  "cookie",
                  "memory",
                  "shared"
                ]
              },
              "max_sessions": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000000
              }
            }
          },
          "identity_headers": {
            "type": "object",
            "additionalProperties": {
              "type": "string",
              "minLength": 1
            }
          },
          "pass_access_token": {
            "type": "boolean"
          },
          "algorithms": {
            "type": "array",
            "minItems": 1,
            "items": {
              "enum": [
                "RS256",
                "RS384",
                "RS512",
                "PS256",
                "PS384",
                "PS512",
                "ES256",
                "ES384",
                "ES512",
                "EdDSA"
              ]
            }
          },
          "clock_skew_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": 300
          },
          "timeout_seconds": {
            "type": "number",
            "minimum": 0.001,
            "maximum": 300
          },
          "ca_file": {
            "type": "string",
            "minLength": 1
          },
          "allow_insecure_http": {
            "type": "boolean"
          }
        }
      }
    },
    "routes": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "name",
          "listener",
          "match",
          "upstream"
        ],
        "properties": {
          "name": {
            "type": "string",
            "minLength": 1
          },
          "listener": {
            "type": "string",
            "minLength": 1
          },
          "match": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "path_prefix"
            ],
            "properties": {
              "path_prefix": {
                "type": "string",
                "pattern": "^/"
              },
              "host": {
                "type": "string",
                "minLength": 1
              }
            }
          },
          "strip_prefix": {
            "type": "boolean"
          },
          "upstream": {
            "$ref": "#/$defs/url"
          },
          "preserve_host": {
            "type": "boolean"
          },
          "credential": {
            "type": "string",
            "minLength": 1
          },
          "allow_public_credential": {
            "type": "boolean"
          },
          "validate": {
            "type": "object",
            "additionalProperties": false,
            "anyOf": [
              {
                "required": [
                  "introspection"
                ]
              },
              {
                "required": [
                  "jwt"
                ]
              }
            ],
            "properties": {
              "introspection": {
                "type": "string",
                "minLength": 1
              },
              "jwt": {
                "type": "string",
                "minLength": 1
              },
              "required_scopes": {
                "type": "array",
                "items": {
                  "type": "string",
                  "minLength": 1
                }
              },
              "audience": {
                "type": "string",
                "minLength": 1
              },
              "issuer": {
                "type": "string",
                "minLength": 1
              },
              "forward_authorization": {
                "type": "boolean"
              },
              "identity_headers": {
                "type": "object",
                "additionalProperties": {
                  "type": "string",
                  "minLength": 1
                }
              },
              "realm": {
                "type": "string",
                "minLength": 1
              }
            }
          },
          "timeouts": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "connect_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 600
              },
              "response_header_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 86400
              },
              "idle_seconds": {
                "type": "number",
                "minimum": 0.001,
                "maximum": 86400
              }
            }
          },
          "max_body_bytes": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1125899906842624
          },
          "upstream_tls": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "ca_file": {
                "type": "string",
                "minLength": 1
              },
              "server_name": {
                "type": "string",
                "minLength": 1
              }
            }
          },
          "login": {
            "type": "string",
            "minLength": 1
          },
          "public_paths": {
            "type": "array",
            "items": {
              "type": "string",
              "pattern": "^/"
            }
          },
          "bearer_token": {
            "enum": [
              "validate",
              "login"
            ]
          },
          "unauthenticated": {
            "enum": [
              "auto",
              "redirect",
              "401"
            ]
          },
          "upstream_protocol": {
            "enum": [
              "http1",
              "h2",
              "h2c"
            ]
          }
        }
      }
    }
  },
  "$defs": {
    "keys": {
      "description": "Keys by id, the first seals, all open (rotation: add the new key first, drop the old one later).",
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "secret"
        ],
        "properties": {
          "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64
          },
          "secret": {
            "$ref": "#/$defs/secret"
          }
        }
      }
    },
    "secret": {
      "oneOf": [
        {
          "type": "string",
          "minLength": 1,
          "description": "Inline secret (development only; tokengate check warns)."
        },
        {
          "type": "object",
          "properties": {
            "env": {
              "type": "string",
              "minLength": 1
            }
          },
          "required": [
            "env"
          ],
          "additionalProperties": false
        },
        {
          "type": "object",
          "properties": {
            "file": {
              "type": "string",
              "minLength": 1
            }
          },
          "required": [
            "file"
          ],
          "additionalProperties": false
        }
      ]
    },
    "url": {
      "type": "string",
      "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/@?#]+(/[^?#]*)?$"
    },
    "address": {
      "type": "string",
      "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$"
    },
    "authMethod": {
      "enum": [
        "client_secret_basic",
        "client_secret_post"
      ]
    }
  }
}
"""#
}
