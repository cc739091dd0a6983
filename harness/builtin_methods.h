// Registers every built-in method (teacher, animatelcm, sfv, osv) once.
#pragma once

namespace osv {
void register_builtin_methods();
}
