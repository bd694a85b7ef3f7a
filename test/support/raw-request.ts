// RunFunction requests written byte by byte, so a test can send what no encoder writes (too deep, too large,
// not protobuf at all), and a client that sends raw bytes and reports only the call's status.
import * as grpc from "@grpc/grpc-js";

export const RUN_FUNCTION_V1 = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction";
export const RUN_FUNCTION_V1BETA1 = "/apiextensions.fn.proto.v1beta1.FunctionRunnerService/RunFunction";

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field. */
export const field = (no: number, body: Buffer): Buffer => Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);

/** A google.protobuf.Struct of `depth` levels: {"a": {"a": ... {}}}. */
export function nestedStruct(depth: number): Buffer {
  let struct: Buffer = Buffer.alloc(0);
  for (let i = 1; i < depth; i++) struct = field(1, Buffer.concat([field(1, Buffer.from("a")), field(2, field(5, struct))]));
  return struct;
}

/** A google.protobuf.Struct {"blob": "xxx…"} whose string is `bytes` long. */
export const blobStruct = (bytes: number): Buffer => field(1, Buffer.concat([field(1, Buffer.from("blob")), field(2, field(3, Buffer.alloc(bytes, "x")))]));

/** A RunFunctionRequest with meta.tag and the input Struct given. */
export const rawRequest = (tag: string, input: Buffer): Buffer => Buffer.concat([field(1, field(1, Buffer.from(tag))), field(4, input)]);

/** Sends `body` as the request's bytes; resolves with the call's status. */
export function callRaw(address: string, body: Buffer, method = RUN_FUNCTION_V1): Promise<{ code: grpc.status; details: string }> {
  const Client = grpc.makeGenericClientConstructor({}, "Raw");
  const client = new Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  return new Promise((resolve) => {
    const identity = (b: Buffer) => b;
    client.makeUnaryRequest(method, identity, identity, body, (e) => {
      client.close();
      resolve({ code: e?.code ?? grpc.status.OK, details: e?.details ?? "" });
    });
  });
}
