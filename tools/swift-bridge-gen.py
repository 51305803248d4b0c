#!/usr/bin/env python3
"""Generates PelletWire's Swift value types and their protobuf-c bridge from a .proto file.

Why a generator: every message needs a Swift struct plus two conversions (to a protobuf-c C struct
for packing, and from an unpacked C struct). Writing those by hand for ~30 messages would be
hundreds of lines of near-identical code that drifts from the schema; generating them from the
same .proto that protoc-c reads keeps the two in lock step, and `tools/gen-protos --check` fails
when either is stale.

It understands the subset of proto3 that Pellet uses: messages (not nested), enums, scalar
fields (string, bytes, bool, uint32, uint64, float), message fields, repeated fields, one oneof,
and optional scalars: proto3's `optional T x = N;` written as the single-field `oneof _x { T x = N; }`
that it stands for (the same bytes and presence; protoc-c 1.4 does not take `optional`). Such a
field is a Swift optional: nil when unset, so that 0 is a value. Comments directly above a message, enum or field become Swift doc comments.

Usage: swift-bridge-gen.py INPUT.proto OUTPUT.swift
"""
import re
import sys

SWIFT_RENAMES = {"Error": "ErrorPayload"}
SCALARS = {
    "string": ("String", '""'),
    "bytes": ("[UInt8]", "[]"),
    "bool": ("Bool", "false"),
    "uint32": ("UInt32", "0"),
    "uint64": ("UInt64", "0"),
    "float": ("Float", "0"),
}


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def upper_camel(name):
    c = camel(name)
    return c[:1].upper() + c[1:]


def snake_to_c_lower(name):
    """protobuf-c's lower-case function stem for a message name: RouteRequest -> route_request."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def swift_name(proto_name):
    return SWIFT_RENAMES.get(proto_name, proto_name)


SWIFT_KEYWORDS = {"delete", "export", "default", "get", "list", "create", "update", "in", "is"}


# protobuf-c renames C fields that are C++ keywords by appending "_".
C_RESERVED = {"delete", "new", "class", "template", "this", "operator", "private", "public"}


def c_field(name):
    return name + "_" if name in C_RESERVED else name


def escaped(identifier):
    return f"`{identifier}`" if identifier in {"default", "in", "is"} else identifier


class Field:
    def __init__(self, name, type_, number, repeated, oneof, doc):
        self.name, self.type, self.number, self.repeated = name, type_, number, repeated
        self.oneof, self.doc = oneof, doc
        # The synthetic oneof of an optional scalar (`_x` for field `x`); None otherwise.
        self.presence = None

    @property
    def swift(self):
        return camel(self.name)


class Message:
    def __init__(self, name, doc):
        self.name, self.doc, self.fields, self.oneofs = name, doc, [], []


class Enum:
    def __init__(self, name, doc):
        self.name, self.doc, self.values = name, doc, []


def parse(text):
    package, messages, enums = None, [], []
    doc, current, oneof = [], None, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            doc.append(line[2:].strip())
            continue
        if not line:
            doc = []
            continue
        if m := re.match(r"package\s+([\w.]+);", line):
            package = m.group(1)
        elif m := re.match(r"message\s+(\w+)\s*\{(.*)$", line):
            current = Message(m.group(1), doc)
            messages.append(current)
            rest = m.group(2).strip()
            if rest and rest != "}":
                # One-line message bodies are not part of the subset.
                raise SystemExit(f"unsupported one-line message: {line}")
            if rest == "}":
                current = None
        elif m := re.match(r"enum\s+(\w+)\s*\{", line):
            current = Enum(m.group(1), doc)
            enums.append(current)
        elif m := re.match(r"oneof\s+(\w+)\s*\{", line):
            oneof = m.group(1)
            current.oneofs.append(oneof)
        elif line == "}":
            if oneof:
                oneof = None
            else:
                current = None
        elif isinstance(current, Enum) and (m := re.match(r"(\w+)\s*=\s*(\d+);", line)):
            current.values.append((m.group(1), int(m.group(2)), doc))
        elif isinstance(current, Message) and (
            m := re.match(r"(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+);", line)
        ):
            current.fields.append(Field(m.group(3), m.group(2), int(m.group(4)), bool(m.group(1)), oneof, doc))
        elif line.startswith("syntax"):
            pass
        else:
            raise SystemExit(f"swift-bridge-gen: cannot parse line: {raw!r}")
        doc = []
    for message in messages:
        for oneof in list(message.oneofs):
            members = [f for f in message.fields if f.oneof == oneof]
            if oneof == "_" + members[0].name and len(members) == 1:
                members[0].oneof, members[0].presence = None, oneof
                message.oneofs.remove(oneof)
    return package, messages, enums


class Generator:
    def __init__(self, package, messages, enums):
        self.c_prefix = "".join(p.capitalize() + "__" for p in package.split("."))  # Pellet__V1__
        self.c_lower = "".join(p + "__" for p in package.split("."))  # pellet__v1__
        self.c_upper = self.c_lower.upper()  # PELLET__V1__
        self.messages = {m.name: m for m in messages}
        self.enums = {e.name: e for e in enums}
        self.out = []

    def emit(self, line=""):
        self.out.append(line)

    def doc(self, lines, indent=""):
        for line in lines:
            self.emit(f"{indent}/// {line}".rstrip())

    # Swift types --------------------------------------------------------------------------------

    def swift_type(self, field):
        if field.type in SCALARS:
            base = SCALARS[field.type][0]
        else:
            base = swift_name(field.type)
        if field.repeated:
            return f"[{base}]"
        if field.type in self.messages or field.presence:
            return f"{base}?"
        return base

    def default(self, field):
        if field.repeated:
            return "[]"
        if field.presence:
            return "nil"
        if field.type in SCALARS:
            return SCALARS[field.type][1]
        if field.type in self.enums:
            return "." + self.enum_case(self.enums[field.type], self.enums[field.type].values[0][0])
        return "nil"

    def enum_case(self, enum, value_name):
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
        stem = value_name[len(prefix):] if value_name.startswith(prefix) else value_name
        return camel(stem.lower())

    def gen_enum(self, enum):
        self.doc(enum.doc)
        self.emit(f"public enum {enum.name}: UInt32, Sendable, Hashable, CaseIterable {{")
        for name, number, doc in enum.values:
            self.doc(doc, "    ")
            self.emit(f"    case {self.enum_case(enum, name)} = {number}")
        self.emit("}")
        self.emit()

    def gen_struct(self, msg):
        name = swift_name(msg.name)
        plain = [f for f in msg.fields if not f.oneof]
        self.doc(msg.doc)
        self.emit(f"public struct {name}: WireMessage {{")
        for oneof in msg.oneofs:
            cases = [f for f in msg.fields if f.oneof == oneof]
            self.emit(f"    public enum {upper_camel(oneof)}: Sendable, Equatable {{")
            for f in cases:
                self.doc(f.doc, "        ")
                self.emit(f"        case {escaped(f.swift)}({self.swift_type(f).rstrip('?')})")
            self.emit("    }")
            self.emit()
        for f in plain:
            self.doc(f.doc, "    ")
            self.emit(f"    public var {f.swift}: {self.swift_type(f)} = {self.default(f)}")
        for oneof in msg.oneofs:
            self.emit(f"    public var {camel(oneof)}: {upper_camel(oneof)}? = nil")
        self.emit()
        params = [f"{f.swift}: {self.swift_type(f)} = {self.default(f)}" for f in plain]
        params += [f"{camel(o)}: {upper_camel(o)}? = nil" for o in msg.oneofs]
        self.emit("    public init() {}")
        if params:
            self.emit()
            self.emit("    public init(")
            for i, p in enumerate(params):
                self.emit(f"        {p}{',' if i < len(params) - 1 else ''}")
            self.emit("    ) {")
            for f in plain:
                self.emit(f"        self.{f.swift} = {f.swift}")
            for o in msg.oneofs:
                self.emit(f"        self.{camel(o)} = {camel(o)}")
            self.emit("    }")
        self.emit("}")
        self.emit()

    # Bridge: Swift -> C -------------------------------------------------------------------------

    def case_constant(self, msg, oneof, field):
        """protobuf-c's enum constant for `field` being the set member of `oneof`."""
        return f"{self.c_upper}{snake_to_c_lower(msg.name).upper()}__{oneof.upper()}_{field.name.upper()}"

    def c_type(self, msg_name):
        return f"{self.c_prefix}{msg_name}"

    def c_fn(self, msg_name, suffix):
        return f"{self.c_lower}{snake_to_c_lower(msg_name)}__{suffix}"

    def to_c_value(self, field, value):
        """A Swift expression that turns a single (non-repeated) Swift value into its C form."""
        t = field.type
        if t == "string":
            return f"arena.cString({value})"
        if t == "bytes":
            return f"arena.binaryData({value})"
        if t == "bool":
            return f"{value} ? 1 : 0"
        if t in ("uint32", "uint64", "float"):
            return value
        if t in self.enums:
            return f"{self.c_type(t)}(rawValue: {value}.rawValue)"
        if t in self.messages:
            return f"{value}.cMessage(in: arena)"
        raise SystemExit(f"unsupported type {t}")

    def c_element_type(self, field):
        t = field.type
        if t == "string":
            return "UnsafeMutablePointer<CChar>?"
        if t in self.messages:
            return f"UnsafeMutablePointer<{self.c_type(t)}>?"
        if t in self.enums:
            return self.c_type(t)
        raise SystemExit(f"unsupported repeated type {t}")

    def gen_to_c(self, msg):
        name = swift_name(msg.name)
        ctype = self.c_type(msg.name)
        self.emit(f"    func cMessage(in arena: CArena) -> UnsafeMutablePointer<{ctype}> {{")
        self.emit(f"        let cStruct = arena.allocate({ctype}.self)")
        self.emit(f"        {self.c_fn(msg.name, 'init')}(cStruct)")
        if msg.fields:
            pass
        for f in msg.fields:
            if f.oneof:
                continue
            if f.repeated:
                elem = self.c_element_type(f)
                conv = self.to_c_value(f, "$0")
                self.emit(f"        if !{f.swift}.isEmpty {{")
                self.emit(f"            cStruct.pointee.n_{f.name} = {f.swift}.count")
                self.emit(f"            cStruct.pointee.{f.name} = arena.array({f.swift}, as: {elem}.self) {{ {conv} }}")
                self.emit("        }")
            elif f.type in self.messages:
                self.emit(f"        if let {f.swift} {{ cStruct.pointee.{f.name} = {f.swift}.cMessage(in: arena) }}")
            elif f.type in ("string", "bytes"):
                self.emit(f"        if !{f.swift}.isEmpty {{ cStruct.pointee.{f.name} = {self.to_c_value(f, f.swift)} }}")
            elif f.presence:
                self.emit(f"        if let {f.swift} {{")
                self.emit(f"            cStruct.pointee.{f.presence}_case = {self.case_constant(msg, f.presence, f)}")
                self.emit(f"            cStruct.pointee.{f.name} = {self.to_c_value(f, f.swift)}")
                self.emit("        }")
            else:
                self.emit(f"        cStruct.pointee.{f.name} = {self.to_c_value(f, f.swift)}")
        for oneof in msg.oneofs:
            case_type = f"{ctype}__{upper_camel(oneof)}Case"
            self.emit(f"        switch {camel(oneof)} {{")
            self.emit("        case nil: break")
            for f in [f for f in msg.fields if f.oneof == oneof]:
                case_const = f"{self.c_upper}{snake_to_c_lower(msg.name).upper()}__{oneof.upper()}_{f.name.upper()}"
                self.emit(f"        case .{escaped(f.swift)}(let value):")
                self.emit(f"            cStruct.pointee.{oneof}_case = {case_const}")
                # Oneof members are packed even when empty (`get = ""` means "my own account").
                self.emit(f"            cStruct.pointee.{c_field(f.name)} = {self.to_c_value(f, 'value')}")
            self.emit("        }")
            _ = case_type
        self.emit("        return cStruct")
        self.emit("    }")

    # Bridge: C -> Swift -------------------------------------------------------------------------

    def from_c_value(self, field, expr):
        """A Swift expression (may throw) that turns one C value into its Swift form."""
        t = field.type
        if t == "string":
            return f"swiftString({expr})"
        if t == "bytes":
            return f"swiftBytes({expr})"
        if t == "bool":
            return f"{expr} != 0"
        if t in ("uint32", "uint64", "float"):
            return expr
        if t in self.enums:
            return f"try wireEnum({swift_name(t)}.self, {expr}.rawValue, message: \"{self.current_message}\", field: \"{field.name}\")"
        if t in self.messages:
            return f"try {swift_name(t)}(cMessage: {expr})"
        raise SystemExit(f"unsupported type {t}")

    def gen_from_c(self, msg):
        self.current_message = msg.name
        ctype = self.c_type(msg.name)
        self.emit(f"    init(cMessage cStruct: UnsafePointer<{ctype}>) throws(MessageDecodingError) {{")
        self.emit("        self.init()")
        for f in msg.fields:
            if f.oneof:
                continue
            src = f"cStruct.pointee.{f.name}"
            if f.repeated:
                conv = self.from_c_value(f, "element")
                if f.type in self.messages or f.type == "string":
                    conv = self.from_c_value(f, "element!")
                self.emit(f"        if let elements = {src} {{")
                self.emit(f"            {f.swift}.reserveCapacity(cStruct.pointee.n_{f.name})")
                self.emit(f"            for element in UnsafeBufferPointer(start: elements, count: cStruct.pointee.n_{f.name}) {{")
                self.emit(f"                {f.swift}.append({conv})")
                self.emit("            }")
                self.emit("        }")
            elif f.type in self.messages:
                self.emit(f"        if let value = {src} {{ {f.swift} = {self.from_c_value(f, 'value')} }}")
            elif f.presence:
                constant = self.case_constant(msg, f.presence, f)
                self.emit(f"        if cStruct.pointee.{f.presence}_case == {constant} {{ {f.swift} = {self.from_c_value(f, src)} }}")
            else:
                self.emit(f"        {f.swift} = {self.from_c_value(f, src)}")
        for oneof in msg.oneofs:
            self.emit(f"        switch cStruct.pointee.{oneof}_case {{")
            for f in [f for f in msg.fields if f.oneof == oneof]:
                case_const = f"{self.c_upper}{snake_to_c_lower(msg.name).upper()}__{oneof.upper()}_{f.name.upper()}"
                src = f"cStruct.pointee.{c_field(f.name)}"
                value = self.from_c_value(f, src + ("!" if f.type in self.messages else ""))
                self.emit(f"        case {case_const}: {camel(oneof)} = .{escaped(f.swift)}({value})")
            self.emit(f"        default: {camel(oneof)} = nil")
            self.emit("        }")
        self.emit("    }")

    def gen_bridge(self, msg):
        name = swift_name(msg.name)
        ctype = self.c_type(msg.name)
        self.emit(f"extension {name}: CBridgedMessage {{")
        self.emit(f"    typealias CMessage = {ctype}")
        self.emit()
        self.emit("    public func encode(into buffer: inout ByteBuffer) { bridgeEncode(self, into: &buffer) }")
        self.emit()
        self.emit("    public init(decoding bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) {")
        self.emit("        self = try bridgeDecode(Self.self, from: bytes)")
        self.emit("    }")
        self.emit()
        self.emit(f"    static func unpack(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutablePointer<{ctype}>? {{")
        self.emit(f"        {self.c_fn(msg.name, 'unpack')}(nil, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))")
        self.emit("    }")
        self.emit()
        self.emit(f"    static func freeUnpacked(_ message: UnsafeMutablePointer<{ctype}>) {{")
        self.emit(f"        {self.c_fn(msg.name, 'free_unpacked')}(message, nil)")
        self.emit("    }")
        self.emit()
        self.gen_to_c(msg)
        self.emit()
        self.gen_from_c(msg)
        self.emit("}")
        self.emit()

    def run(self):
        self.emit("// Generated by tools/swift-bridge-gen.py from Protos/pellet/v1/pellet.proto. Do not edit:")
        self.emit("// change the .proto and run tools/gen-protos.")
        self.emit()
        self.emit("import CPelletProto")
        self.emit("import NIOCore")
        self.emit()
        for enum in self.enums.values():
            self.gen_enum(enum)
        for msg in self.messages.values():
            self.gen_struct(msg)
        self.emit("// MARK: - protobuf-c bridge")
        self.emit()
        for msg in self.messages.values():
            self.gen_bridge(msg)
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out) + "\n"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        package, messages, enums = parse(f.read())
    code = Generator(package, messages, enums).run()
    with open(sys.argv[2], "w") as f:
        f.write(code)


if __name__ == "__main__":
    main()
