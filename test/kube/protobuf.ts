/**
 * Decodes the Kubernetes protobuf encoding for the few kinds that typed
 * client-go clients send as protobuf: helm 4 stores releases in Secrets this
 * way, and `kubectl create configmap|secret|namespace|serviceaccount|token` and
 * `kubectl auth can-i` use it.
 * Field numbers are those of k8s.io/api's generated.proto. Anything outside
 * the table is refused with 415 rather than guessed, so a gap shows up loudly.
 */
import { ApiError } from "./errors.js";
import type { Json, JsonObject } from "./json.js";

type Scalar = "string" | "bytes" | "int" | "bool" | "time" | "rawJson";
interface Field {
  name: string;
  type: Scalar | Message | { map: [Scalar, Scalar] };
  repeated?: boolean;
}
type Message = { fields: Record<number, Field> };

const TIME: Scalar = "time";
const STRING_MAP: Field["type"] = { map: ["string", "string"] };

const OWNER_REFERENCE: Message = {
  fields: {
    1: { name: "kind", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
    5: { name: "apiVersion", type: "string" },
    6: { name: "controller", type: "bool" },
    7: { name: "blockOwnerDeletion", type: "bool" },
  },
};

const MANAGED_FIELDS_ENTRY: Message = {
  fields: {
    1: { name: "manager", type: "string" },
    2: { name: "operation", type: "string" },
    3: { name: "apiVersion", type: "string" },
    4: { name: "time", type: TIME },
    6: { name: "fieldsType", type: "string" },
    7: { name: "fieldsV1", type: { fields: { 1: { name: "Raw", type: "rawJson" } } } },
    8: { name: "subresource", type: "string" },
  },
};

const OBJECT_META: Message = {
  fields: {
    1: { name: "name", type: "string" },
    2: { name: "generateName", type: "string" },
    3: { name: "namespace", type: "string" },
    4: { name: "selfLink", type: "string" },
    5: { name: "uid", type: "string" },
    6: { name: "resourceVersion", type: "string" },
    7: { name: "generation", type: "int" },
    8: { name: "creationTimestamp", type: TIME },
    9: { name: "deletionTimestamp", type: TIME },
    10: { name: "deletionGracePeriodSeconds", type: "int" },
    11: { name: "labels", type: STRING_MAP },
    12: { name: "annotations", type: STRING_MAP },
    13: { name: "ownerReferences", type: OWNER_REFERENCE, repeated: true },
    14: { name: "finalizers", type: "string", repeated: true },
    17: { name: "managedFields", type: MANAGED_FIELDS_ENTRY, repeated: true },
  },
};

const LOCAL_OBJECT_REFERENCE: Message = { fields: { 1: { name: "name", type: "string" } } };
const OBJECT_REFERENCE: Message = {
  fields: {
    1: { name: "kind", type: "string" },
    2: { name: "namespace", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
    5: { name: "apiVersion", type: "string" },
    6: { name: "resourceVersion", type: "string" },
    7: { name: "fieldPath", type: "string" },
  },
};

const KINDS: Record<string, Message> = {
  Secret: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: { name: "data", type: { map: ["string", "bytes"] } },
      3: { name: "type", type: "string" },
      4: { name: "stringData", type: STRING_MAP },
      5: { name: "immutable", type: "bool" },
    },
  },
  ConfigMap: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: { name: "data", type: STRING_MAP },
      3: { name: "binaryData", type: { map: ["string", "bytes"] } },
      4: { name: "immutable", type: "bool" },
    },
  },
  Namespace: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: { name: "spec", type: { fields: { 1: { name: "finalizers", type: "string", repeated: true } } } },
      3: { name: "status", type: { fields: { 1: { name: "phase", type: "string" } } } },
    },
  },
  ServiceAccount: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: { name: "secrets", type: OBJECT_REFERENCE, repeated: true },
      3: { name: "imagePullSecrets", type: LOCAL_OBJECT_REFERENCE, repeated: true },
      4: { name: "automountServiceAccountToken", type: "bool" },
    },
  },
  // authentication.k8s.io/v1: what `kubectl create token` sends.
  TokenRequest: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: {
        name: "spec",
        type: {
          fields: {
            1: { name: "audiences", type: "string", repeated: true },
            3: {
              name: "boundObjectRef",
              type: {
                fields: {
                  1: { name: "kind", type: "string" },
                  2: { name: "apiVersion", type: "string" },
                  3: { name: "name", type: "string" },
                  4: { name: "uid", type: "string" },
                },
              },
            },
            4: { name: "expirationSeconds", type: "int" },
          },
        },
      },
      3: {
        name: "status",
        type: {
          fields: { 1: { name: "token", type: "string" }, 2: { name: "expirationTimestamp", type: TIME } },
        },
      },
    },
  },
  // authentication.k8s.io/v1: what `kubectl auth whoami` sends (an empty review).
  SelfSubjectReview: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: {
        name: "status",
        type: {
          fields: {
            1: {
              name: "userInfo",
              type: {
                fields: {
                  1: { name: "username", type: "string" },
                  2: { name: "uid", type: "string" },
                  3: { name: "groups", type: "string", repeated: true },
                },
              },
            },
          },
        },
      },
    },
  },
  // authorization.k8s.io/v1: what `kubectl auth can-i` sends.
  SelfSubjectAccessReview: {
    fields: {
      1: { name: "metadata", type: OBJECT_META },
      2: {
        name: "spec",
        type: {
          fields: {
            1: {
              name: "resourceAttributes",
              type: {
                fields: {
                  1: { name: "namespace", type: "string" },
                  2: { name: "verb", type: "string" },
                  3: { name: "group", type: "string" },
                  4: { name: "version", type: "string" },
                  5: { name: "resource", type: "string" },
                  6: { name: "subresource", type: "string" },
                  7: { name: "name", type: "string" },
                },
              },
            },
            2: {
              name: "nonResourceAttributes",
              type: { fields: { 1: { name: "path", type: "string" }, 2: { name: "verb", type: "string" } } },
            },
          },
        },
      },
      3: {
        name: "status",
        type: {
          fields: {
            1: { name: "allowed", type: "bool" },
            2: { name: "reason", type: "string" },
            3: { name: "evaluationError", type: "string" },
            4: { name: "denied", type: "bool" },
          },
        },
      },
    },
  },
  DeleteOptions: {
    fields: {
      1: { name: "gracePeriodSeconds", type: "int" },
      2: {
        name: "preconditions",
        type: {
          fields: { 1: { name: "uid", type: "string" }, 2: { name: "resourceVersion", type: "string" } },
        },
      },
      3: { name: "orphanDependents", type: "bool" },
      4: { name: "propagationPolicy", type: "string" },
      5: { name: "dryRun", type: "string", repeated: true },
    },
  },
};

class Reader {
  position = 0;
  constructor(readonly bytes: Buffer) {}

  done(): boolean {
    return this.position >= this.bytes.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) throw unsupported("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  chunk(): Buffer {
    const length = Number(this.varint());
    const out = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.position += 8;
    else if (wireType === 2) this.chunk();
    else if (wireType === 5) this.position += 4;
    else throw unsupported(`wire type ${wireType}`);
  }
}

function unsupported(what: string): ApiError {
  return new ApiError(
    415,
    "UnsupportedMediaType",
    `the test API server cannot decode this protobuf body (${what}); it decodes Secret, ConfigMap, Namespace, ServiceAccount, TokenRequest, SelfSubjectReview, SelfSubjectAccessReview and DeleteOptions; send application/json`,
  );
}

function signed(value: bigint): number {
  return Number(BigInt.asIntN(64, value));
}

function decodeScalar(reader: Reader, type: Scalar): Json {
  switch (type) {
    case "string":
      return reader.chunk().toString("utf8");
    case "bytes":
      return reader.chunk().toString("base64");
    case "rawJson":
      return JSON.parse(reader.chunk().toString("utf8")) as Json;
    case "int":
      return signed(reader.varint());
    case "bool":
      return reader.varint() !== 0n;
    case "time": {
      const time = decodeMessage(new Reader(reader.chunk()), {
        fields: { 1: { name: "seconds", type: "int" }, 2: { name: "nanos", type: "int" } },
      });
      const seconds = typeof time.seconds === "number" ? time.seconds : 0;
      return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
    }
  }
}

function decodeMessage(reader: Reader, message: Message): JsonObject {
  const out: JsonObject = {};
  while (!reader.done()) {
    const tag = Number(reader.varint());
    const number = tag >>> 3;
    const wireType = tag & 7;
    const field = message.fields[number];
    if (!field) throw unsupported(`unknown field number ${number}`);
    let value: Json;
    let mapEntry: [string, Json] | undefined;
    if (typeof field.type === "string") value = decodeScalar(reader, field.type);
    else if ("map" in field.type) {
      const entryReader = new Reader(reader.chunk());
      const [keyType, valueType] = field.type.map;
      let key: Json = "";
      let entryValue: Json = valueType === "bytes" || valueType === "string" ? "" : null;
      while (!entryReader.done()) {
        const entryTag = Number(entryReader.varint());
        if (entryTag >>> 3 === 1) key = decodeScalar(entryReader, keyType);
        else if (entryTag >>> 3 === 2) entryValue = decodeScalar(entryReader, valueType);
        else entryReader.skip(entryTag & 7);
      }
      mapEntry = [String(key), entryValue];
      value = null;
    } else value = decodeMessage(new Reader(reader.chunk()), field.type);
    if (wireType !== 2 && typeof field.type !== "string")
      throw unsupported(`wire type ${wireType} for ${field.name}`);
    // Go writes non-pointer fields even when zero; JSON would have omitted them, so do the same.
    const zero =
      value === "" ||
      (field.type === TIME && value === "1970-01-01T00:00:00Z") ||
      (field.type === "int" && value === 0 && field.name === "generation");
    if (zero && !field.repeated) continue;
    if (mapEntry) {
      const map = (out[field.name] ?? {}) as JsonObject;
      map[mapEntry[0]] = mapEntry[1];
      out[field.name] = map;
    } else if (field.repeated) out[field.name] = [...((out[field.name] as Json[] | undefined) ?? []), value];
    else out[field.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Turns a "k8s\0"-prefixed runtime.Unknown envelope into the JSON object it carries. */
export function decodeKubernetesProtobuf(body: Buffer): JsonObject {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupported("missing the k8s\\0 prefix");
  const envelope = decodeMessage(new Reader(body.subarray(4)), {
    fields: {
      1: {
        name: "typeMeta",
        type: { fields: { 1: { name: "apiVersion", type: "string" }, 2: { name: "kind", type: "string" } } },
      },
      2: { name: "raw", type: "bytes" },
      3: { name: "contentEncoding", type: "string" },
      4: { name: "contentType", type: "string" },
    },
  });
  const typeMeta = (envelope.typeMeta ?? {}) as JsonObject;
  const kind = String(typeMeta.kind ?? "");
  const message = KINDS[kind];
  if (!message) throw unsupported(`kind ${kind || "(none)"}`);
  const raw = Buffer.from(String(envelope.raw ?? ""), "base64");
  return { apiVersion: typeMeta.apiVersion ?? "v1", kind, ...decodeMessage(new Reader(raw), message) };
}
