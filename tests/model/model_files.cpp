#include "model_files.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace infer::test {

std::string model_dir() {
    if (const char *dir = std::getenv("INFER_MODEL_DIR")) return dir;
    const char *cache = std::getenv("XDG_CACHE_HOME");
    const char *home = std::getenv("HOME");
    const std::string base = cache ? cache : std::string(home ? home : "/tmp") + "/.cache";
    return base + "/libinfer/models";
}

std::string real_model(const std::string &file) {
    const std::string path = model_dir() + "/" + file;
    if (!std::filesystem::exists(path))
        throw std::runtime_error(path + " is missing: run scripts/fetch-models.sh");
    return path;
}

std::string synthetic_model(const std::string &name, const std::string &synth_args) {
    static std::mutex mutex;
    static std::map<std::string, std::string> made;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = made.find(name); it != made.end()) return it->second;
    const std::string dir = std::filesystem::temp_directory_path().string() + "/libinfer-test-" +
                            std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + name + ".gguf";
    const std::string cmd = std::string(INFER_SYNTH_EXE) + " " + synth_args + " -o " + path +
                            " > /dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    made[name] = path;
    return path;
}

} // namespace infer::test
