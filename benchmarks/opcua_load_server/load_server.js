// Load server of the carbontwin OPC UA ingest benchmark (see benchmarks/opcua_ingest.py).
"use strict";
const os = require("os");
const path = require("path");
const { OPCUAServer, Subscription } = require("node-opcua-server");
const { MessageSecurityMode, SecurityPolicy } = require("node-opcua-secure-channel");
const { DataType, Variant } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

const NS_URI = "urn:carbontwin:bench-load";

function args() {
    const a = { port: 4841, variables: 1000, periodMs: 100, pki: path.join(os.tmpdir(), "carbontwin-bench-pki") };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
        const k = argv[i], v = argv[i + 1];
        if (k === "--port") a.port = Number(v);
        else if (k === "--variables") a.variables = Number(v);
        else if (k === "--period-ms") a.periodMs = Number(v);
        else if (k === "--pki") a.pki = v;
        else throw new Error(`unknown argument ${k}`);
    }
    return a;
}

async function main() {
    const a = args();
    // every change of a publishing interval in one publish response
    Subscription.maxNotificationPerPublishHighLimit = 1_000_000;
    const certificateManager = new OPCUACertificateManager({ rootFolder: a.pki, automaticallyAcceptUnknownCertificate: true });
    const server = new OPCUAServer({
        port: a.port,
        hostname: "127.0.0.1",
        resourcePath: "/bench/",
        securityPolicies: [SecurityPolicy.None],
        securityModes: [MessageSecurityMode.None],
        allowAnonymous: true,
        serverCertificateManager: certificateManager,
        serverCapabilities: {
            minSupportedSampleRate: 0,  // exception-based items deliver every change
            maxSessions: 20,
            maxSubscriptions: 100,
            maxMonitoredItems: 1_000_000,
            maxMonitoredItemsPerSubscription: 1_000_000,
            maxMonitoredItemsQueueSize: 10_000,
            operationLimits: { maxMonitoredItemsPerCall: 100_000, maxNodesPerRead: 100_000, maxNodesPerWrite: 100_000 },
        },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.registerNamespace(NS_URI);
    const folder = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Load", nodeId: "s=Load" });
    const vars = [];
    for (let i = 0; i < a.variables; i++) {
        vars.push(ns.addVariable({
            componentOf: folder, browseName: `v${i}`, nodeId: `s=v${i}`, dataType: "Double",
            minimumSamplingInterval: 0, value: { dataType: DataType.Double, value: 0 },
        }));
    }
    let k = 0, roundTime = 0, running = false, timer = null;
    const ro = (name, dataType, get) => ns.addVariable({
        componentOf: folder, browseName: name, nodeId: `s=${name}`, dataType,
        minimumSamplingInterval: 100,
        value: { get: () => new Variant({ dataType: DataType[dataType], value: get() }) },
    });
    ro("round", "Double", () => k);
    ro("round_time", "Double", () => roundTime);
    ro("period_ms", "Double", () => a.periodMs);
    ro("variables", "UInt32", () => a.variables);
    let tNext = 0, lastT = 0;
    function round() {
        if (!running) return;
        k += 1;
        // each round its own source time (ms resolution), even when rounds catch up
        lastT = Math.max(Date.now(), lastT + 1);
        const now = new Date(lastT);
        const v = { dataType: DataType.Double, value: k };
        for (const x of vars) x.setValueFromSource(v, StatusCodes.Good, now);
        roundTime = Date.now() / 1000;
        tNext += a.periodMs;
        timer = setTimeout(round, Math.max(tNext - performance.now(), 0));
    }
    ns.addVariable({
        componentOf: folder, browseName: "run", nodeId: "s=run", dataType: "Boolean", minimumSamplingInterval: 100,
        accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
        value: {
            get: () => new Variant({ dataType: DataType.Boolean, value: running }),
            set: (variant) => {
                const want = Boolean(variant.value);
                if (want && !running) {
                    running = true;
                    tNext = performance.now();
                    round();
                } else if (!want && running) {
                    running = false;
                    clearTimeout(timer);
                }
                return StatusCodes.Good;
            },
        },
    });
    await server.start();
    process.stdout.write(JSON.stringify({ ready: server.getEndpointUrl(), variables: a.variables }) + "\n");
    const shutdown = async () => { running = false; clearTimeout(timer); await server.shutdown(0); process.exit(0); };
    process.on("SIGTERM", shutdown);
    process.on("SIGINT", shutdown);
    process.stdin.on("end", shutdown);  // the benchmark went away
    process.stdin.resume();
}

main().catch((err) => { console.error(err); process.exit(1); });
