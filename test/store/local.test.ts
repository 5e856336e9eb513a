import { openLocalStore } from "../../relay/store/local/index.js";
import { tempDir } from "../support/temp-dir.js";
import { describeStoreContract } from "./contract.js";

describeStoreContract("local", async () => openLocalStore({ dir: await tempDir() }), {
  backingState: async () => {
    const dir = await tempDir();
    return () => openLocalStore({ dir });
  },
  // One process, one instance: change notification is checked on that instance.
  concurrentPeers: false,
});
